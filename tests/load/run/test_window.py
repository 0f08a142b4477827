"""The tracing window closes once it has run its seconds and served enough requests to show
what grows per request, or at its longest: tracing serves many times fewer requests."""

from __future__ import annotations

from load.run.config import WINDOW_MIN_REQUESTS, LabConfig
from load.run.runner import window_closes


def test_a_window_waits_for_requests_past_its_seconds_up_to_its_longest() -> None:
    config = LabConfig(duration_s=20.0, warmup_s=5.0)
    opened, until = 30.0, 30.0 + config.window_s
    few = [(0.0, 10_000, 0), (1.0, 10_000 + WINDOW_MIN_REQUESTS // 4, 0)]
    enough = [(0.0, 10_000, 0), (1.0, 10_000 + WINDOW_MIN_REQUESTS, 0)]
    assert not window_closes(opened + 1.0, until, enough, 10_000, config)  # its seconds first
    assert window_closes(until, until, enough, 10_000, config)
    assert not window_closes(until, until, few, 10_000, config)  # too few to show growth
    longest = opened + config.window_cap_s
    assert not window_closes(longest - 0.5, until, few, 10_000, config)
    assert window_closes(longest, until, few, 10_000, config)

"""The tracing window closes once it has run its seconds and served enough requests to show
what grows per request, or at its longest: tracing serves many times fewer requests."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from load.probe.attribution import ProbeChannel
from load.run.config import WINDOW_MIN_REQUESTS, LabConfig
from load.run.runner import Window, window_closes

# how long the stand-in worker takes to start tracing (a collection and a count of objects)
START_TAKES_S = 0.6


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


def test_a_window_opens_when_the_workers_trace_not_when_the_lab_asked(tmp_path: Path) -> None:
    """Requests served while the workers collected and counted their objects were not traced:
    they must not count toward the window's requests, nor its seconds."""
    window = Window(ProbeChannel(tmp_path))
    pid = os.getpid()

    def worker() -> None:  # the probe's side: it answers once tracing has started
        while not (tmp_path / "command.json").exists():
            time.sleep(0.01)
        command = json.loads((tmp_path / "command.json").read_text())
        time.sleep(START_TAKES_S)
        answer = {"ok": True, "action": command["action"], "pid": pid, "seq": command["seq"]}
        (tmp_path / f"{pid}-{command['seq']}.json").write_text(json.dumps(answer))

    answering = threading.Thread(target=worker)
    answering.start()
    window.open(frames=6, workers=[pid])
    answering.join()
    assert window.asked_at is not None
    assert window.opened_at is not None
    assert window.opened_at - window.asked_at >= START_TAKES_S

"""What one lab run is: the load, the server settings, the warm-up, and the presets.

Both builds of a compare run get the same ``LabConfig``: the same users, duration, server and
worker settings, and the same freshly seeded database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

ServerKind = Literal["uvicorn", "gunicorn"]

# The leak catalogue (ARCHITECTURE.md section 2); LEAKPROOF_LEAKS selects them in the twin.
SCENARIOS = (
    "unclosed-session",
    "global-state",
    "di-singleton",
    "orphan-tasks",
    "unstreamed-export",
    "stream-holds-session",
    "engine-per-request",
    "aborted-stream",
    "threadpool-deadlock",
    "allocator-retention",
    "exception-retention",
    "client-per-request",
    "metrics-cardinality",
)

# A fixed build is flat when its RSS grows by at most this much per 10k requests after warm-up.
FLAT_MB_PER_10K = 1.0
# The twin shows its leak when its slope is at least this many times the fixed build's.
LEAK_FACTOR = 10.0


@dataclass(frozen=True)
class LabConfig:
    users: int = 20
    duration_s: float = 60.0
    requests: int | None = None  # stop a build's load early once this many requests are done
    server: ServerKind = "uvicorn"
    workers: int = 2  # gunicorn only; uvicorn runs one process
    max_requests: int | None = None  # gunicorn recycling; None: the settings' value
    scenarios: tuple[str, ...] = SCENARIOS
    seed_items: int = 5000
    sample_interval_s: float = 0.25
    # Start-up growth to leave out of the slope: pools and caches fill, and the allocator grows
    # its arenas to the load's high-water mark (~1 MB steps that would dominate a short run).
    warmup_s: float = 15.0
    out: Path = Path("reports")

    @property
    def leaks_env(self) -> str:
        return "all" if set(self.scenarios) == set(SCENARIOS) else ",".join(self.scenarios)

    def describe(self) -> str:
        server = (
            f"gunicorn x{self.workers}"
            + (f", max-requests {self.max_requests}" if self.max_requests is not None else "")
            if self.server == "gunicorn"
            else "uvicorn (1 process)"
        )
        bound = f"{self.duration_s:g} s" + (
            f" or {self.requests} requests" if self.requests else ""
        )
        return f"{self.users} users, {bound} per build, {server}"


DEFAULT = LabConfig()
# CI's end-to-end check: ~30 s in all, still long enough after warm-up to fit a slope.
QUICK = replace(DEFAULT, duration_s=12.0, warmup_s=5.0, seed_items=3000)


def warmup_for(duration_s: float) -> float:
    """A quarter of the run, between 3 and 15 s: enough for the allocator to settle."""
    return min(max(0.25 * duration_s, 3.0), 15.0)


def parse_scenarios(text: str) -> tuple[str, ...]:
    """``all`` or a comma list of catalogue ids; anything else names the valid ids."""
    if text.strip() == "all":
        return SCENARIOS
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown or not chosen:
        raise ValueError(
            f"unknown scenario {', '.join(unknown) or '(none given)'}: "
            f"choose 'all' or some of {', '.join(SCENARIOS)}"
        )
    return chosen

"""What one lab run is: the load, the server settings, the warm-up, and the presets.

Both builds of a compare run get the same ``LabConfig``: the same users, duration, server and
worker settings, and the same freshly seeded database.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

ServerKind = Literal["uvicorn", "gunicorn"]

# A fixed build is flat when its RSS grows by at most this much per 10k requests after warm-up.
FLAT_MB_PER_10K = 1.0
# The twin shows its leak when its slope is at least this many times the fixed build's
# (the rule for reports written before the lab traced the heap).
LEAK_FACTOR = 10.0
# The Python heap is flat when the interpreter's live blocks grow by at most this many per 10k
# requests after warm-up: one block kept for every two requests. Each leak of the catalogue keeps
# several per request it leaks from (docs/lab.md has the measured slopes).
HEAP_FLAT_BLOCKS_PER_10K = 5000.0
# The tracing window on a build that grows: its share of --duration, never shorter than
# MIN_WINDOW_S (tracemalloc slows every allocation while it runs), and the frames kept per
# allocation (enough to reach the app's own line through a library's).
WINDOW_SHARE = 0.15
MIN_WINDOW_S = 5.0
TRACE_FRAMES = 6
# Tracing serves 5 to 20 times fewer requests per second: a window stays open past its seconds
# until it has served this many (a leak per new item read shows too few in a hundred), up to
# WINDOW_CAP_FACTOR times its seconds
WINDOW_MIN_REQUESTS = 400
WINDOW_CAP_FACTOR = 4.0
# When a verdict is unclear at --duration, the load goes on in steps of this share of it.
EXTEND_SHARE = 0.5
MAX_DURATION_FACTOR = 3.0
# Slopes are per 10k requests, so their intervals narrow with requests, not seconds: on a slow
# machine a fixed build's interval can still straddle its limit at the cap (docs/lab.md,
# "Intervals, and running longer"). Without --max-duration, a verdict still unclear at the cap
# runs on, in the same steps, until the load has served this many requests, up to
# SLOW_CAP_FACTOR times --duration.
MIN_VERDICT_REQUESTS = 15_000
SLOW_CAP_FACTOR = 6.0
# locust's master gives up (no request sent, the run cannot happen) when its workers have not all
# connected in this time: the lab's own start in seconds, workers started by hand elsewhere later
LOCAL_WORKERS_WAIT_S = 60.0
REMOTE_WORKERS_WAIT_S = 300.0
STREAM_PINNING_READERS = 16


@dataclass(frozen=True)
class LabConfig:
    users: int = 20
    duration_s: float = 60.0
    requests: int | None = None  # stop a build's load early once this many requests are done
    server: ServerKind = "uvicorn"
    workers: int = 2  # gunicorn only; uvicorn runs one process
    max_requests: int | None = None  # gunicorn recycling; None: the settings' value
    # gunicorn recycling by memory: MB per worker, or "auto" under memory_limit_mb; None: off
    max_memory: int | Literal["auto"] | None = None
    memory_limit_mb: int | None = None
    scenarios: tuple[str, ...] | None = None  # the twin's leaks; None: all of them
    # reads keep reaching items not read before, so a cache without a bound keeps growing
    seed_items: int = 20_000
    item_bytes: int | None = None  # pad each seeded item's description to this length
    sample_interval_s: float = 0.25
    # Start-up growth to leave out of the slope: pools and caches fill, and the allocator grows
    # its arenas to the load's high-water mark (~1 MB steps that would dominate a short run).
    warmup_s: float = 15.0
    out: Path = Path("reports")
    attribution: bool = True  # the in-process probe: heap window, sites, holders
    max_duration_s: float | None = None  # None: MAX_DURATION_FACTOR x duration (see slow_cap_s)
    memray: bool = False
    trace_frames: int = TRACE_FRAMES
    # locust's distributed mode: a master and this many worker processes; 0: one process
    locust_workers: int = 0
    # workers started on other machines (locust --worker --master-host ...), waited for too
    remote_locust_workers: int = 0
    locust_master_port: int | None = None  # None: a free port, or locust's 5557 for remote ones

    @property
    def slow_readers(self) -> int:
        """One; or, when the run is about streams that pin connections alone, one more than a
        worker's pool holds at the settings' defaults (pool size plus overflow), so that pinning
        shows as an exhausted pool. The fixed build sheds those past its export cap (503)."""
        return STREAM_PINNING_READERS if self.scenarios == ("stream-holds-session",) else 1

    @property
    def load_cap_s(self) -> float:
        """The longest the load may run when the verdict needs more evidence."""
        if self.max_duration_s is not None:
            return max(self.max_duration_s, self.duration_s)
        return MAX_DURATION_FACTOR * self.duration_s

    @property
    def slow_cap_s(self) -> float:
        """The longest the load may run on a machine too slow to serve MIN_VERDICT_REQUESTS by
        ``load_cap_s``: an explicit --max-duration is a hard cap."""
        if self.max_duration_s is not None:
            return self.load_cap_s
        return SLOW_CAP_FACTOR * self.duration_s

    def cap_s(self, requests_done: int) -> float:
        """How long the load may run for a verdict, given the requests served so far."""
        return self.load_cap_s if requests_done >= MIN_VERDICT_REQUESTS else self.slow_cap_s

    @property
    def window_s(self) -> float:
        """Seconds of tracing at the end of the planned load, after warm-up."""
        return min(
            max(WINDOW_SHARE * self.duration_s, MIN_WINDOW_S), self.duration_s - self.warmup_s
        )

    @property
    def window_cap_s(self) -> float:
        """The longest a tracing window stays open while it waits for WINDOW_MIN_REQUESTS."""
        return WINDOW_CAP_FACTOR * self.window_s

    @property
    def distributed(self) -> bool:
        return self.locust_workers + self.remote_locust_workers > 0

    @property
    def generator_wait_s(self) -> float:
        """How long locust's master may wait for its workers before the load starts."""
        if self.remote_locust_workers:
            return REMOTE_WORKERS_WAIT_S  # someone starts them by hand
        return LOCAL_WORKERS_WAIT_S if self.locust_workers else 0.0

    @property
    def leaks_env(self) -> str:
        return "all" if self.scenarios is None else ",".join(self.scenarios)

    @property
    def chosen_scenarios(self) -> tuple[str, ...]:
        return catalogue() if self.scenarios is None else self.scenarios

    def describe(self) -> str:
        server = (
            f"gunicorn x{self.workers}"
            + (f", max-requests {self.max_requests}" if self.max_requests is not None else "")
            + (f", max-memory {self.max_memory}" if self.max_memory is not None else "")
            + (f" (limit {self.memory_limit_mb} MB)" if self.memory_limit_mb else "")
            if self.server == "gunicorn"
            else "uvicorn (1 process)"
        )
        bound = f"{self.duration_s:g} s" + (
            f" or {self.requests} requests" if self.requests else ""
        )
        remote = (
            f" (+{self.remote_locust_workers} on other machines)"
            if self.remote_locust_workers
            else ""
        )
        generator = (
            f", locust master + {self.locust_workers} workers{remote}" if self.distributed else ""
        )
        return f"{self.users} users, {bound} per build, {server}{generator}"


DEFAULT = LabConfig()
# CI's end-to-end check: ~30 s in all, still long enough after warm-up to fit a slope.
QUICK = replace(DEFAULT, duration_s=20.0, warmup_s=5.0)


def warmup_for(duration_s: float) -> float:
    """A quarter of the run, between 3 and 15 s: enough for the allocator to settle."""
    return min(max(0.25 * duration_s, 3.0), 15.0)


@cache
def catalogue() -> tuple[str, ...]:
    """The twin's scenario ids in the order docs/leaks.md tells them, read from the twin itself
    (the one list); none in a service generated without the twin. Read on first use: the twin's
    modules are not worth importing for every ``leakproof`` command."""
    try:
        twin = importlib.import_module("app.leaky.catalogue")
    except ModuleNotFoundError:
        return ()
    return tuple(twin.SCENARIOS)


def parse_scenarios(text: str) -> tuple[str, ...] | None:
    """``all`` (None: every scenario) or a comma list of catalogue ids; anything else names the
    valid ids."""
    if text.strip() == "all":
        return None
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in catalogue()]
    if unknown or not chosen:
        raise ValueError(
            f"unknown scenario {', '.join(unknown) or '(none given)'}: "
            f"choose 'all' or some of {', '.join(catalogue())}"
        )
    return chosen

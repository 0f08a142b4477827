"""What the lab adds to locust: a warm-up at twice the users, a progress file (requests and
failures over time, read by the lab), and the stop conditions (a request bound, a stop file).

Imported by the locustfile, inside locust's gevent-patched process; the listeners register on
import. Without the lab's environment variables it does nothing.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from locust import LoadTestShape, events
from locust.env import Environment

PROGRESS_INTERVAL_S = 0.25

# --- the lab's load shape: a burst to warm up, then the steady load that is measured ----------

WARMUP_S = float(os.environ.get("LEAKPROOF_LAB_WARMUP_S") or 0)


class WarmupThenSteady(LoadTestShape):
    """Twice the users during warm-up, then ``-u`` until ``--run-time``.

    A process's RSS climbs until the allocator has seen the load's high-water mark of live
    objects, which rises with the peaks of concurrency. Warming up at double concurrency
    reaches a mark the steady phase does not exceed, so the measured slope is the build's
    behaviour, not the allocator still finding its level.
    """

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        assert options is not None
        elapsed = time.perf_counter() - self.start_time
        if options.run_time and elapsed >= options.run_time:
            return None
        users = int(options.num_users)
        if elapsed < WARMUP_S:
            return 2 * users, 2 * users
        return users, users


# --- progress for the lab: requests over time, and the request bound ---------------------------

_counts = {"requests": 0, "failures": 0}


def _count(exception: Exception | None = None, **_kwargs: Any) -> None:
    _counts["requests"] += 1
    if exception is not None:
        _counts["failures"] += 1


def _start_progress(environment: Environment, **_kwargs: Any) -> None:
    path = os.environ.get("LEAKPROOF_LAB_PROGRESS")
    limit = int(os.environ.get("LEAKPROOF_LAB_MAX_REQUESTS") or 0)
    stop_file = os.environ.get("LEAKPROOF_LAB_STOP_FILE") or ""
    if path:  # a greenlet under locust's monkey-patching, not an OS thread
        threading.Thread(
            target=_write_progress, args=(environment, path, limit, stop_file), daemon=True
        ).start()


events.request.add_listener(_count)  # type: ignore[no-untyped-call]
events.init.add_listener(_start_progress)  # type: ignore[no-untyped-call]


def _write_progress(environment: Environment, path: str, limit: int, stop_file: str) -> None:
    progress = open(path, "a", buffering=1)  # noqa: SIM115 - closed by the quitting listener

    def line() -> None:
        progress.write(f"{time.time():.3f} {_counts['requests']} {_counts['failures']}\n")

    def last_line(**_kwargs: Any) -> None:
        line()
        progress.close()

    environment.events.quitting.add_listener(last_line)  # type: ignore[no-untyped-call]
    while not progress.closed:
        line()
        done = (limit and _counts["requests"] >= limit) or (stop_file and os.path.exists(stop_file))
        if done and environment.runner is not None:  # the bound, or the lab has seen enough
            environment.runner.quit()
            return
        time.sleep(PROGRESS_INTERVAL_S)

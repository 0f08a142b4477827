"""What the lab adds to locust: a warm-up at twice the users, a progress file (requests and
failures over time, read by the lab), and the stop conditions (a request bound, a stop file).

Imported by the locustfile, inside locust's gevent-patched process; the listeners register on
import. Without the lab's environment variables it does nothing.

In locust's distributed mode (``leakproof ... --locust-workers N``) the same file runs in the
master and in every worker. Workers send the requests; each attaches its counts to the report it
sends the master (``report_to_master``, every few seconds), and the master adds up the latest
count of each worker (``worker_report``). Only the master writes the progress file, runs the
warm-up shape, and quits on the bound or the stop file; quitting the master quits its workers.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

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

REPORT_KEY = "leakproof_lab_counts"  # in a worker's report to the master: [requests, failures]

_counts = {"requests": 0, "failures": 0}  # requests this process sent (local, or one worker)
_reported: dict[str, tuple[int, int]] = {}  # the master: each worker's latest counts
_writing = threading.Event()  # one progress writer per process, however often the test starts


def _count(exception: Exception | None = None, **_kwargs: Any) -> None:
    _counts["requests"] += 1
    if exception is not None:
        _counts["failures"] += 1


def _report(data: dict[str, Any], **_kwargs: Any) -> None:
    """A worker attaches its counts to each report it sends the master."""
    data[REPORT_KEY] = [_counts["requests"], _counts["failures"]]


def _receive(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    """The master keeps each worker's latest counts (they only ever grow)."""
    counts = data.get(REPORT_KEY)
    if counts is not None:
        _reported[client_id] = (int(counts[0]), int(counts[1]))


def totals(runner: object) -> tuple[int, int]:
    """Requests and failures so far: this process's own, or on a master the sum of what its
    workers last reported."""
    if isinstance(runner, MasterRunner):
        return (
            sum(requests for requests, _ in _reported.values()),
            sum(failures for _, failures in _reported.values()),
        )
    return _counts["requests"], _counts["failures"]


def _start_progress(environment: Environment, **_kwargs: Any) -> None:
    """When the test starts (on a master: once its workers are connected), not at start-up: the
    first line is when the load began, which the warm-up is timed from."""
    path = os.environ.get("LEAKPROOF_LAB_PROGRESS")
    if not path or isinstance(environment.runner, WorkerRunner) or _writing.is_set():
        return
    _writing.set()
    limit = int(os.environ.get("LEAKPROOF_LAB_MAX_REQUESTS") or 0)
    stop_file = os.environ.get("LEAKPROOF_LAB_STOP_FILE") or ""
    # a greenlet under locust's monkey-patching, not an OS thread
    threading.Thread(
        target=_write_progress, args=(environment, path, limit, stop_file), daemon=True
    ).start()


events.request.add_listener(_count)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_receive)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_start_progress)  # type: ignore[no-untyped-call]


def _write_progress(environment: Environment, path: str, limit: int, stop_file: str) -> None:
    """A line a tick; on a master only when a worker's report changed the totals (between
    reports the counts are not known, and a repeated line would read as no request served)."""
    progress = open(path, "a", buffering=1)  # noqa: SIM115 - closed by the quitting listener
    runner = environment.runner
    only_changes = isinstance(runner, MasterRunner)
    written: list[tuple[int, int]] = []

    def line() -> None:
        now = totals(runner)
        if not only_changes or not written or now != written[-1]:
            progress.write(f"{time.time():.3f} {now[0]} {now[1]}\n")
            written.append(now)

    def last_line(**_kwargs: Any) -> None:
        written.clear()  # the final totals, written whatever the last line said
        line()
        progress.close()

    environment.events.quitting.add_listener(last_line)  # type: ignore[no-untyped-call]
    while not progress.closed:
        line()
        requests = totals(runner)[0]
        done = (limit and requests >= limit) or (stop_file and os.path.exists(stop_file))
        if done and runner is not None:  # the bound, or the lab has seen enough
            runner.quit()  # a master tells its workers to quit, and waits for their last reports
            return
        time.sleep(PROGRESS_INTERVAL_S)

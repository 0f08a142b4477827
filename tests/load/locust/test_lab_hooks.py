"""The lab's hooks in locust's own processes, alone and in distributed mode (a master and two
workers), against a small HTTP server of the test's own: the progress file, the statistics, the
warm-up shape and the stop file must work the same way in both."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from load.run.config import LabConfig
from load.run.generator import LoadGenerator, start_generator
from load.run.locust_process import locust_env, read_progress, read_stats
from load.run.servers import Children

LOCUSTFILE = """
from locust import FastHttpUser, constant, task

from load.locust import lab_hooks


class Reader(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def read(self) -> None:
        self.client.get("/")


if lab_hooks.WARMUP_S:
    WarmupThenSteady = lab_hooks.WarmupThenSteady
"""
CONFIG = LabConfig(users=2, duration_s=10.0, warmup_s=4.0, max_duration_s=10.0)
STOP_AFTER_S = 9.0
EXIT_WITHIN_S = 30.0


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads locust's numbers, not the server's log."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def drive(config: LabConfig, url: str, out: Path) -> tuple[LoadGenerator, float]:
    """Start the generator, touch the stop file after STOP_AFTER_S, and wait for its exit."""
    locustfile = out / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    progress, stop = out / "progress.txt", out / "stop"
    children = Children()
    try:
        generator = start_generator(
            children, "t", config, url, out, locust_env(config, progress, stop), locustfile
        )
        deadline = time.monotonic() + EXIT_WITHIN_S + STOP_AFTER_S
        while not read_progress(progress) and time.monotonic() < deadline:
            time.sleep(0.1)  # a master waits for its workers before the test starts
        started = time.monotonic()
        time.sleep(STOP_AFTER_S)
        stop.touch()
        generator.process.wait(EXIT_WITHIN_S)
        return generator, time.monotonic() - started
    finally:
        children.stop_all()


def user_counts(out: Path) -> list[int]:
    with (out / "locust-t_stats_history.csv").open(newline="") as rows:
        return [
            int(row["User Count"]) for row in csv.DictReader(rows) if row["Name"] == "Aggregated"
        ]


@pytest.mark.parametrize("workers", [0, 2], ids=["one process", "master and 2 workers"])
def test_progress_stats_shape_and_stop_work_alone_and_distributed(
    server: str, tmp_path: Path, workers: int
) -> None:
    config = replace(CONFIG, locust_workers=workers)
    generator, ran_s = drive(config, server, tmp_path)

    assert len(generator.workers) == workers
    for child in [generator.main, *generator.workers]:
        assert child.process.returncode is not None
        assert not psutil.pid_exists(child.pid)
    assert ran_s < STOP_AFTER_S + 10  # the stop file ended it, not --run-time

    progress = read_progress(tmp_path / "progress.txt")
    counts = [requests for _, requests, _ in progress]
    times = [ts for ts, _, _ in progress]
    assert counts == sorted(counts)
    assert times == sorted(times)
    assert counts[-1] > 50
    # the workers' reports reached the master: its statistics and its progress agree, but for
    # the last second (locust writes its CSV once a second)
    stats = read_stats(tmp_path / "locust-t")
    per_second = counts[-1] / (times[-1] - times[0])
    assert 0 <= counts[-1] - stats.requests <= 1.5 * per_second
    assert stats.failures == progress[-1][2] == 0
    # the warm-up at twice the users, then the users (the master's shape, in both modes)
    seen = user_counts(tmp_path)
    assert max(seen) == 2 * config.users
    assert config.users in seen[seen.index(max(seen)) :]
    if workers:
        assert (tmp_path / "locust-t-worker2.log").exists()
        # only the master writes progress, and only when a report changed the totals
        assert len(set(counts[:-1])) == len(counts) - 1

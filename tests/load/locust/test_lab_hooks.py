"""The lab's hooks in locust's own processes, alone and in distributed mode (a master and two
workers), against a small HTTP server of the test's own: the progress file, the statistics, the
warm-up shape and the stop file must work the same way in both, with a locustfile that does not
import them."""

from __future__ import annotations

import csv
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from load.run.config import LabConfig
from load.run.generator import LoadGenerator, start_generator
from load.run.locust_process import lab_locustfiles, locust_env, read_progress, read_stats
from load.run.readiness import free_port
from load.run.servers import Children
from load.run.target import ROOT
from tests.support.stub_service import stub_service

# a locustfile of the user's own: it knows nothing of the lab, which adds its hooks (with_lab.py)
LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Reader(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def read(self) -> None:
        self.client.get("/")
"""
CONFIG = LabConfig(users=2, duration_s=10.0, warmup_s=4.0, max_duration_s=10.0)
STOP_AFTER_S = 9.0
EXIT_WITHIN_S = 30.0


@pytest.fixture
def server() -> Iterator[str]:
    with stub_service({"/": (200, "text/plain", "ok")}) as url:
        yield url


def drive(
    config: LabConfig, url: str, out: Path, meanwhile: Callable[[], None] = lambda: None
) -> tuple[LoadGenerator, float]:
    """Start the generator (then ``meanwhile``), touch the stop file after STOP_AFTER_S, and
    wait for its exit."""
    locustfile = out / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    progress, stop = out / "progress.txt", out / "stop"
    children = Children()
    try:
        generator = start_generator(
            children,
            "t",
            config,
            url,
            out,
            locust_env(config, progress, stop),
            lab_locustfiles(locustfile),
        )
        meanwhile()
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


def test_a_worker_started_elsewhere_with_the_printed_command_joins_the_master(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--remote-locust-workers: the master waits for a worker it did not start; the command the
    lab prints for another machine is run here, as someone would run it there."""
    config = replace(
        CONFIG, locust_workers=1, remote_locust_workers=1, locust_master_port=free_port()
    )
    elsewhere: list[subprocess.Popen[bytes]] = []

    def start_the_printed_worker() -> None:
        printed = capsys.readouterr().out
        assert "waiting up to 300 s for 1 locust workers from other machines" in printed
        line = printed.split("in a checkout of this project: ", 1)[1].strip()
        words = shlex.split(line.replace("<this machine's address>", "127.0.0.1"))
        settings = dict(word.split("=", 1) for word in words if "=" in word and "/" not in word)
        command = [word for word in words if word not in {f"{k}={v}" for k, v in settings.items()}]
        assert command[:2] == [".venv/bin/locust", "-f"]
        elsewhere.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **settings},
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    try:
        generator, _ = drive(config, server, tmp_path, start_the_printed_worker)
        assert elsewhere[0].wait(EXIT_WITHIN_S) == 0  # the master told it to quit
    finally:
        for process in elsewhere:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert len(generator.workers) == 1
    progress = read_progress(tmp_path / "progress.txt")
    assert progress[-1][1] > 50
    history = (tmp_path / "locust-t_stats_history.csv").read_text()
    assert history.count("\n") > 3

"""The sampler against real servers of the fixed build (uvicorn, and gunicorn that recycles)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from load.run.config import LabConfig
from load.run.database import asyncpg_dsn
from load.run.outside import ConnectionCounter
from load.run.readiness import free_port
from load.run.sampling import Sampler
from load.run.servers import Children, server_command, server_env, wait_ready
from load.run.target import template_build


@pytest.fixture
def children() -> Iterator[Children]:
    started = Children()
    yield started
    started.stop_all()


def start_fixed(
    children: Children, config: LabConfig, database_url: str, tmp_path: Path
) -> tuple[int, str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    fixed = template_build("fixed", config)
    server = children.start(
        "fixed server",
        server_command(fixed, config, port),
        server_env(fixed, config, database_url),
        log,
    )
    wait_ready(server, base_url, log, fixed)
    return server.pid, base_url


def sampler(pid: int, base_url: str, database_url: str) -> Sampler:
    return Sampler(
        target=template_build("fixed", LabConfig()),
        leader_pid=pid,
        base_url=base_url,
        database_url=database_url,
        interval_s=0.1,
        phase=lambda _ts: "measure",
    )


def test_sampler_sees_the_process_its_connections_and_its_inside(
    children: Children, database_url: str, tmp_path: Path
) -> None:
    pid, base_url = start_fixed(children, LabConfig(), database_url, tmp_path)
    watching = sampler(pid, base_url, database_url)
    watching.start()
    time.sleep(1.5)
    watching.stop()
    settled = watching.settle()
    samples = watching.samples
    assert len(samples) >= 8, "fewer than ~5 samples a second"
    assert all(list(sample.worker_anon_mb) == [pid] for sample in samples)
    assert all(sample.rss_mb > 20 for sample in samples)
    # the readiness probe opened a pooled connection named leakproof-fixed:<pid>
    assert max(sample.db_connections or 0 for sample in samples) >= 1
    assert samples[-1].tasks is not None
    assert samples[-1].tasks >= 1
    assert samples[-1].pool_checked_out is not None
    assert samples[-1].phase == "settled"
    assert "objects" in settled
    assert watching.errors == []


def test_the_settled_sample_reads_the_tasks_after_the_load_not_a_gauge_from_it(
    children: Children, database_url: str, tmp_path: Path
) -> None:
    """/metrics is scraped every few seconds under load; the settled count must be scraped
    after the load, or the tasks in flight at the last scrape read as tasks that stayed."""
    pid, base_url = start_fixed(children, LabConfig(), database_url, tmp_path)
    watching = sampler(pid, base_url, database_url)
    watching.inside.tasks = {pid: 999.0}  # scraped a moment ago, with the load in flight
    watching._scraped_at = time.monotonic()
    watching.settle()
    settled = watching.samples[-1]
    assert settled.phase == "settled"
    assert settled.tasks is not None
    assert 1 <= settled.tasks < 50


def test_stopping_leaves_no_server_process(
    children: Children, database_url: str, tmp_path: Path
) -> None:
    config = LabConfig(server="gunicorn", workers=2)
    pid, _ = start_fixed(children, config, database_url, tmp_path)
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(family) >= 3  # the arbiter and two workers
    children.stop_all()
    gone, alive = psutil.wait_procs(family, timeout=5)
    assert alive == [], f"left running: {alive}"
    assert len(gone) == len(family)


def test_recycled_gunicorn_workers_are_counted_by_their_new_pids(
    children: Children, database_url: str, tmp_path: Path
) -> None:
    config = LabConfig(server="gunicorn", workers=2, max_requests=20)
    pid, base_url = start_fixed(children, config, database_url, tmp_path)
    watching = sampler(pid, base_url, database_url)
    watching.start()
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        for _ in range(150):  # each worker serves ~75: past 20 (+ jitter) requests at least once
            # a worker that is being replaced may reset a connection it accepted: not our subject
            with contextlib.suppress(httpx.TransportError):
                http.get("/health/live")
    time.sleep(2.5)  # the arbiter forks the replacements
    watching.stop()
    assert len(watching.worker_pids_seen) > config.workers


def test_a_dead_server_gives_no_sample(database_url: str) -> None:
    """Its zero memory is not a measurement: it would read as a spike that fell back."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: no such process any more
    watching = sampler(gone.pid, "http://127.0.0.1:9", database_url)
    assert (
        asyncio.run(watching.take(ConnectionCounter(database_url, "x", print), "measure")) is None
    )
    assert watching.samples == []


def test_an_app_s_connections_are_every_other_client_of_its_database(database_url: str) -> None:
    """An app of one's own does not name its connections: the lab counts every client of the
    database but itself."""

    async def counts() -> tuple[int | None, int | None]:
        counter = ConnectionCounter(database_url, None, print)
        try:
            before = await counter.count()
            app_connections = [await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(2)]
            try:
                during = await counter.count()
            finally:
                for connection in app_connections:
                    await connection.close()
            return before, during
        finally:
            await counter.close()

    before, during = asyncio.run(counts())
    assert before is not None
    assert during == before + 2

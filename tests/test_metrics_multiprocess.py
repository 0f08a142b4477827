"""Under gunicorn, /metrics speaks for every live worker, whichever worker answers the scrape,
and forgets a worker once it has been recycled."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import Server, serve, stop_postgres, wait_ready, wait_stopped

WORKERS = 2
MAX_REQUESTS = 50
REFRESH_S = 0.5
LIVE_PROBES = 300
PER_WORKER = (
    "leakproof_worker_rss_bytes",
    "leakproof_asyncio_tasks",
    "leakproof_cache_entries",
    "leakproof_worker_metrics_updated_seconds",
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    stop_postgres(tmp_path / "data")  # a failed test must not leave its database running


def live_workers(server: Server) -> set[int]:
    """The gunicorn arbiter's children: the `serve` launcher runs gunicorn as its child."""
    launcher = psutil.Process(server.process.pid)
    arbiters = [p for p in launcher.children() if "gunicorn" in " ".join(p.cmdline())]
    assert len(arbiters) == 1, f"expected one gunicorn arbiter, found {arbiters}"
    return {worker.pid for worker in arbiters[0].children() if worker.is_running()}


def get(url: str) -> httpx.Response:
    """A GET on a connection of its own, tried twice: a worker that reaches max_requests can
    close a connection it accepted without answering (the recycle gap gunicorn documents), and
    what this file tests is the metrics, not that gap."""
    try:
        return httpx.get(url, timeout=10)
    except httpx.TransportError:
        return httpx.get(url, timeout=10)


def scrape(server: Server) -> dict[int, dict[str, float]]:
    """The per-worker gauges of one scrape: {pid: {metric: value}}."""
    response = get(f"{server.url}/metrics")
    assert response.status_code == 200
    by_pid: dict[int, dict[str, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in PER_WORKER:
                by_pid.setdefault(int(sample.labels["pid"]), {})[sample.name] = sample.value
    return by_pid


def recycles(server: Server) -> dict[str, float]:
    """leakproof_worker_recycles_total by reason: counted by every worker, the dead included."""
    response = get(f"{server.url}/metrics")
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "leakproof_worker_recycles_total"
    }


def settled_scrape(
    server: Server, timeout_s: float = 20
) -> tuple[set[int], dict[int, dict[str, float]]]:
    """A scrape taken while no worker is being replaced: the live set was the same before and
    after it. A recycle in flight (one worker gone, its successor not started) is retried."""
    deadline = time.monotonic() + timeout_s
    while True:
        before = live_workers(server)
        metrics = scrape(server)
        if before == live_workers(server) == set(metrics) and len(before) == WORKERS:
            return before, metrics
        if time.monotonic() > deadline:
            raise AssertionError(f"live workers {before}, scraped {sorted(metrics)}")
        time.sleep(REFRESH_S)


def quiet_scrape(server: Server) -> tuple[set[int], dict[int, dict[str, float]]]:
    """A scrape after a pause with no traffic: only the worker that answers it updates its gauges
    on demand, so any other worker's values are as old as its own refresh timer keeps them."""
    for _ in range(3):
        before = live_workers(server)
        time.sleep(8 * REFRESH_S)
        metrics = scrape(server)
        if before == live_workers(server):
            return before, metrics
    raise AssertionError("workers kept being replaced while the server had no traffic")


def test_metrics_follow_the_live_workers_through_recycles(data_dir: Path) -> None:
    server = serve(
        data_dir,
        *("--server", "gunicorn", "--workers", str(WORKERS)),
        *("--max-requests", str(MAX_REQUESTS)),
        settings={
            "LEAKPROOF_METRICS_REFRESH_S": str(REFRESH_S),
            "LEAKPROOF_MAX_REQUESTS_JITTER": "10",
        },
    )
    try:
        wait_ready(server)
        first_workers, _ = settled_scrape(server)
        every_worker = set(first_workers)
        for _ in range(LIVE_PROBES // 50):
            for _ in range(50):  # 300 requests: each worker is recycled at least twice
                assert get(f"{server.url}/health/live").status_code == 200
            every_worker |= set(scrape(server))
            every_worker |= live_workers(server)
        every_worker |= settled_scrape(server)[0]
        live, metrics = quiet_scrape(server)

        recycled = every_worker - live
        assert len(recycled) >= WORKERS, f"no recycle seen: {sorted(every_worker)}"
        # the dead are forgotten (child_exit), the living are all there with every gauge
        assert set(metrics) == live
        for pid, gauges in metrics.items():
            assert set(gauges) == set(PER_WORKER), f"worker {pid}: {gauges}"
            # fresh although one of them did not answer the scrape: refreshed by its own timer
            age_s = time.time() - gauges["leakproof_worker_metrics_updated_seconds"]
            assert age_s < 4 * REFRESH_S, f"worker {pid}'s gauges are {age_s:.1f} s old"
            assert gauges["leakproof_worker_rss_bytes"] > 0

        # every recycle was by max_requests, and counted although its worker is gone
        counted = recycles(server)
        assert counted["memory"] == 0
        assert counted["requests"] >= len(recycled)
        # request counters add up across every worker, the recycled ones included
        lives = [
            sample.value
            for family in text_string_to_metric_families(get(f"{server.url}/metrics").text)
            for sample in family.samples
            if sample.name == "leakproof_http_requests_total"
            and sample.labels == {"method": "GET", "route": "/health/live", "status": "200"}
        ]
        assert lives == [LIVE_PROBES]

        answered = get(f"{server.url}/debug/stats").json()["worker"]
        assert answered["pid"] in live | recycled  # the pid that answered was a worker...
        assert answered["pid"] != server.process.pid  # ...never the launcher
        assert answered["parent_pid"] not in live
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output()
    assert wait_stopped(data_dir), "the embedded PostgreSQL outlived the server"

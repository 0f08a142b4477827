"""A service the lab did not start, sampled from what it exposes. The service is the edge of the
machine here: its answers come from httpx's MockTransport, page by page."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx

from load.run.remote_sampling import RemoteSampler
from load.run.remote_target import Target

MB = 1024 * 1024
URL = "http://service.test"


def process_page(rss_mb: float, started: float, fds: int = 20, tasks: int = 5) -> str:
    """What one process of a service with prometheus_client's ProcessCollector answers."""
    return (
        f"process_resident_memory_bytes {rss_mb * MB}\n"
        f"process_start_time_seconds {started}\n"
        f"process_open_fds {fds}\n"
        f"leakproof_asyncio_tasks {tasks}\n"
        "leakproof_db_pool_checked_out 2\n"
    )


def multiprocess_page(rss_mb: dict[int, float]) -> str:
    """This template under gunicorn: every live worker's gauges, labelled by pid."""
    lines = [f'leakproof_worker_rss_bytes{{pid="{pid}"}} {mb * MB}' for pid, mb in rss_mb.items()]
    lines += [f'leakproof_asyncio_tasks{{pid="{pid}"}} 4' for pid in rss_mb]
    return "\n".join(lines) + "\n"


def stats(pid: int, gc_objects: int, threads: int = 6) -> dict[str, object]:
    return {
        "pid": pid, "gc_objects": gc_objects, "threads": threads, "fds": 30,
        "pool": {"checked_out": 1}, "pg_stat_activity": {"process": 2, "app": 7},
    }  # fmt: skip


def service(
    pages: Iterator[str], debug: Iterator[dict[str, object]] | None = None
) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            page = next(pages, None)
            return httpx.Response(200, text=page) if page else httpx.Response(503)
        if request.url.path == "/debug/stats" and debug is not None:
            return httpx.Response(200, json=next(debug))
        return httpx.Response(404)

    return httpx.AsyncClient(base_url=URL, transport=httpx.MockTransport(answer))


def sampler(**target: object) -> RemoteSampler:
    return RemoteSampler(Target(url=URL, metrics_path="/metrics", **target), lambda _ts: "measure")  # type: ignore[arg-type]


async def test_one_process_gives_memory_fds_tasks_and_pool_and_nothing_it_cannot_see() -> None:
    watcher = sampler()
    async with service(iter([process_page(80.0, 1000.0, fds=21, tasks=9)])) as client:
        sample = await watcher.poll(client, None, "measure")
    assert sample is not None
    assert (sample.rss_mb, sample.worker_anon_mb, sample.fds) == (80.0, {1: 80.0}, 21)
    assert (sample.tasks, sample.pool_checked_out) == (9, 2)
    # no /debug/stats, no database URL: unknown, not zero
    assert sample.uss_mb is None
    assert sample.threads is sample.gc_objects is sample.db_connections is None
    assert watcher.heap == []


async def test_two_processes_answering_in_turn_are_two_processes_summed() -> None:
    watcher = sampler()
    pages = iter(
        [process_page(80.0, 1000.0), process_page(90.0, 1000.5), process_page(82.0, 1000.0)]
    )
    async with service(pages) as client:
        samples = [await watcher.poll(client, None, "measure") for _ in range(3)]
    last = samples[-1]
    assert last is not None
    assert last.worker_anon_mb == {1: 82.0, 2: 90.0}
    assert last.rss_mb == 172.0
    assert watcher.processes_seen == {1, 2}


async def test_multiprocess_mode_gives_every_worker_at_once_and_drops_a_gone_one() -> None:
    watcher = sampler(multiprocess=True, workers=2)
    pages = iter([multiprocess_page({11: 90.0, 12: 95.0}), multiprocess_page({12: 96.0, 13: 70.0})])
    async with service(pages) as client:
        first = await watcher.poll(client, None, "measure")
        second = await watcher.poll(client, None, "measure")
    assert first is not None
    assert second is not None
    assert first.worker_anon_mb == {11: 90.0, 12: 95.0}
    assert (first.tasks, first.fds) == (8, None)  # tasks by pid, summed; fds not in the page
    assert second.worker_anon_mb == {12: 96.0, 13: 70.0}  # 11 was recycled, 13 replaced it
    assert watcher.processes_seen == {11, 12, 13}
    assert watcher.most_processes == 2


async def test_debug_stats_add_gc_objects_as_the_heap_threads_and_the_service_s_own_count() -> None:
    watcher = sampler(debug=True)
    pages = iter([process_page(80.0, 1000.0)] * 2)
    answers = iter([stats(41, 5000), stats(41, 5600)])
    async with service(pages, answers) as client:
        await watcher.poll(client, None, "measure")
        sample = await watcher.poll(client, None, "measure")
    assert sample is not None
    assert (sample.gc_objects, sample.threads, sample.db_connections) == (5600, 6, 7)
    assert [(point.pid, point.blocks) for point in watcher.heap] == [(41, 5000), (41, 5600)]


async def test_a_failed_scrape_is_no_sample_not_a_repeated_value() -> None:
    watcher = sampler()
    pages = itertools.chain([process_page(80.0, 1000.0)], iter([]))
    async with service(pages) as client:
        assert await watcher.poll(client, None, "measure") is not None
        assert await watcher.poll(client, None, "measure") is None
    assert len(watcher.samples) == 1
    assert watcher.scrapes_failed == 1
    assert any("HTTP 503" in note for note in watcher.errors)

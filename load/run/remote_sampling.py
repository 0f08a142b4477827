"""Sampling a service the lab did not start, from what it exposes, about once a second.

Its Prometheus metrics give the memory (``process_resident_memory_bytes`` of the process that
answered, or this template's ``leakproof_worker_rss_bytes`` of every worker in multiprocess
mode), open fds, and this template's asyncio tasks and pool gauges. This template's
``/debug/stats``, when it answers, adds gc objects (the heap the judge fits, counted in objects),
threads and the service's own count of its ``pg_stat_activity`` rows. With ``--database-url``
the lab counts the connections itself. What none of them shows stays ``None`` in the samples.

Without multiprocess mode each scrape describes the one process that answered it: each process
(told apart by its start time) keeps its latest value until it has not answered for STALE_S.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from load.probe.attribution import HeapPoint
from load.run.metrics_text import (
    ASYNCIO_TASKS,
    GC_UNCOLLECTABLE,
    POOL_CHECKED_OUT,
    PROCESS_FDS,
    PROCESS_RSS,
    PROCESS_STARTED,
    WORKER_RSS,
    Scrape,
    parse,
)
from load.run.outside import ConnectionCounter
from load.run.remote_target import DEBUG_STATS, Target
from load.run.sampling import Sample, debug_growth

MB = 1024 * 1024
SCRAPE_INTERVAL_S = 1.0
SCRAPE_TIMEOUT_S = 10.0
DEBUG_TIMEOUT_S = 2.0
STALE_S = 10.0  # a process not heard from for this long is no longer counted
SETTLE_PAUSE_S = 0.5
ASKS_PER_WORKER = 3
RECYCLES = "leakproof_worker_recycles_total"


class RemoteSampler:
    """Samples one service in a thread of its own until ``stop()``; ``samples`` and ``heap``
    grow meanwhile."""

    def __init__(
        self, target: Target, phase: Callable[[float], str], interval_s: float = SCRAPE_INTERVAL_S
    ) -> None:
        self.target = target
        self.phase = phase
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.heap: list[HeapPoint] = []  # gc objects per process, from /debug/stats
        self.errors: list[str] = []
        self.processes_seen: set[int] = set()
        self.most_processes = 0  # the most seen answering at once
        self.uncollectable: list[float] = []  # python_gc_objects_uncollectable_total, per scrape
        self.recycles: dict[str, float] = {}
        self.scrapes_failed = 0
        self._memory: dict[int, tuple[float, float]] = {}  # process -> (seen at, MB)
        self._fds: dict[int, tuple[float, float]] = {}
        self._stats: dict[int, tuple[float, dict[str, Any]]] = {}  # pid -> (seen at, body)
        self._numbers: dict[float, int] = {}  # a process's start time -> its number here
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler:remote", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=SCRAPE_TIMEOUT_S + 5)

    def _run(self) -> None:
        asyncio.run(self._sample_until_stopped())

    def _client(self) -> httpx.AsyncClient:
        # a new connection each time: with several workers, any of them may answer
        return httpx.AsyncClient(
            base_url=self.target.url,
            timeout=DEBUG_TIMEOUT_S,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def _counter(self) -> ConnectionCounter | None:
        if self.target.database_url is None:
            return None
        return ConnectionCounter(self.target.database_url, None, self._note)

    async def _sample_until_stopped(self) -> None:
        counter = self._counter()
        try:
            async with self._client() as client:
                while not self._stop.is_set():
                    tick = time.monotonic()
                    await self.poll(client, counter, self.phase(time.time()))
                    await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - tick)))
        finally:
            if counter is not None:
                await counter.close()

    async def poll(
        self, client: httpx.AsyncClient, counter: ConnectionCounter | None, phase: str
    ) -> Sample | None:
        """One scrape (and /debug/stats, and the connection count), one sample; None when the
        metrics did not answer (a repeated old value would read as flat)."""
        scrape, stats, connections = await asyncio.gather(
            self._scrape(client),
            self._debug_stats(client),
            counter.count() if counter is not None else _nothing(),
        )
        now = time.time()
        for body in stats:
            self._take_stats(now, body)
        if scrape is None:
            return None
        self._take_scrape(now, scrape)
        sample = self._sample(now, phase, scrape, connections)
        self.samples.append(sample)
        return sample

    async def _scrape(self, client: httpx.AsyncClient) -> Scrape | None:
        try:
            answer = await client.get(self.target.metrics_path, timeout=SCRAPE_TIMEOUT_S)
            if answer.status_code != 200:
                raise ValueError(f"HTTP {answer.status_code}")
            return parse(answer.text)
        except (httpx.HTTPError, ValueError) as error:
            self.scrapes_failed += 1
            self._note(
                f"a scrape of {self.target.metrics_path} failed: {type(error).__name__}: {error}"
            )
            return None

    async def _debug_stats(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        """Each worker's /debug/stats: over fresh connections the kernel spreads the asks."""
        if not self.target.debug:
            return []
        answers = await asyncio.gather(
            *(client.get(DEBUG_STATS, headers=self.target.debug_headers) for _ in self._asks()),
            return_exceptions=True,
        )
        bodies = []
        for answer in answers:
            if isinstance(answer, httpx.Response) and answer.status_code == 200:
                body = answer.json()
                if isinstance(body, dict) and "pid" in body:
                    bodies.append(body)
        return bodies

    def _asks(self) -> range:
        """Asks enough that each worker is reached (the kernel picks): one where there is one,
        three per worker in multiprocess mode (each one missed 1 time in 2**6 with two)."""
        return range(1 if self.target.workers <= 1 else ASKS_PER_WORKER * self.target.workers)

    def _take_stats(self, now: float, body: dict[str, Any]) -> None:
        pid = int(body["pid"])
        self._stats[pid] = (now, body)
        objects = body.get("gc_objects")
        if isinstance(objects, int):
            self.heap.append(HeapPoint(ts=now, pid=pid, blocks=objects))

    def _take_scrape(self, now: float, scrape: Scrape) -> None:
        per_worker = scrape.by_label(WORKER_RSS, "pid")
        if per_worker:  # multiprocess mode: every live worker, whichever one answered
            self._memory = {int(pid): (now, value / MB) for pid, value in per_worker.items()}
        else:
            process = self._process_number(scrape)
            rss = scrape.first(PROCESS_RSS)
            rss = scrape.first(WORKER_RSS) if rss is None else rss
            if rss is not None:
                self._memory[process] = (now, rss / MB)
            fds = scrape.first(PROCESS_FDS)
            if fds is not None:
                self._fds[process] = (now, fds)
            for seen in (self._memory, self._fds):
                for key in [key for key, (at, _) in seen.items() if now - at > STALE_S]:
                    del seen[key]
        self.processes_seen.update(self._memory)
        self.most_processes = max(self.most_processes, len(self._memory))
        uncollectable = scrape.total(GC_UNCOLLECTABLE)
        if uncollectable is not None:
            self.uncollectable.append(uncollectable)
        self.recycles.update(scrape.by_label(RECYCLES, "reason"))

    def _process_number(self, scrape: Scrape) -> int:
        """1, 2, ... for each process that answered, told apart by its start time."""
        started = scrape.first(PROCESS_STARTED) or 0.0
        return self._numbers.setdefault(started, len(self._numbers) + 1)

    def _live_stats(self, now: float) -> list[dict[str, Any]]:
        """The latest /debug/stats of each process still serving."""
        if self.target.multiprocess:
            return [body for pid, (_, body) in self._stats.items() if pid in self._memory]
        return [body for at, body in self._stats.values() if now - at <= STALE_S]

    def _sample(self, now: float, phase: str, scrape: Scrape, connections: int | None) -> Sample:
        stats = self._live_stats(now)

        def stat(key: str, sub: str | None = None) -> float | None:
            values = []
            for body in stats:
                value = body.get(key)
                if sub is not None and isinstance(value, dict):
                    value = value.get(sub)
                if isinstance(value, int | float):
                    values.append(float(value))
            return sum(values) if values else None

        memory = {process: round(mb, 2) for process, (_, mb) in self._memory.items()}
        fds = sum(value for _, value in self._fds.values()) if self._fds else stat("fds")
        tasks = scrape.total(ASYNCIO_TASKS)
        pool = scrape.total(POOL_CHECKED_OUT)
        threads, objects = stat("threads"), stat("gc_objects")
        return Sample(
            ts=now,
            phase=phase,
            rss_mb=round(sum(memory.values()), 2),
            uss_mb=None,
            fds=_int(fds),
            threads=_int(threads),
            worker_anon_mb=memory,
            worker_rss_mb=dict(memory),
            db_connections=connections if self._counting else self._service_count(stats),
            pool_checked_out=_int(pool if pool is not None else stat("pool", "checked_out")),
            tasks=_int(tasks if tasks is not None else stat("asyncio_tasks")),
            heap_mb=stat("heap_mb"),
            gc_objects=_int(objects),
        )

    @property
    def _counting(self) -> bool:
        return self.target.database_url is not None

    @staticmethod
    def _service_count(stats: list[dict[str, Any]]) -> int | None:
        """This template's own count of its rows in pg_stat_activity (its app name, all
        processes), from any answer that has one."""
        for body in stats:
            rows = body.get("pg_stat_activity")
            if isinstance(rows, dict) and isinstance(rows.get("app"), int):
                return int(rows["app"])
        return None

    def _note(self, error: str) -> None:
        if error not in self.errors:  # once each, not once a tick
            self.errors.append(error)

    def baseline(self) -> None:
        """The first /debug/growth call: the reference the settled one is compared with."""
        if self.target.debug:
            asyncio.run(self._growth_once())

    async def _growth_once(self) -> None:
        async with self._client() as client:  # each worker keeps its own reference point
            await asyncio.gather(*(self.growth(client) for _ in self._asks()))

    def settle(self) -> tuple[dict[str, Any], bool]:
        """After the load: gc.collect() in each worker (this template's /debug/growth), then one
        last sample. Returns what grew, and whether the service still answered."""
        return asyncio.run(self._settle())

    async def _settle(self) -> tuple[dict[str, Any], bool]:
        growth: dict[str, Any] = {}
        counter = self._counter()
        try:
            async with self._client() as client:
                if self.target.debug:
                    answers = await asyncio.gather(*(self.growth(client) for _ in self._asks()))
                    growth = max(answers, key=lambda answer: len(answer.get("objects") or []))
                await asyncio.sleep(SETTLE_PAUSE_S)
                answered = await self.poll(client, counter, "settled") is not None
        finally:
            if counter is not None:
                await counter.close()
        return growth, answered

    async def growth(self, client: httpx.AsyncClient) -> dict[str, Any]:
        return await debug_growth(client, self._note, self.target.debug_headers)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


async def _nothing() -> None:
    """Stands in for a connection count when no database URL was given."""

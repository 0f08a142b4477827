"""Sampling a running build from outside and inside, several times a second.

Outside: psutil on every server process (the gunicorn arbiter and each worker): RSS, USS, fds,
threads; a connection of the lab's own counting the build's rows in pg_stat_activity (by its
application_name prefix), so it still answers when the build's pool is exhausted.
Inside: GET /metrics (asyncio tasks per worker, pool checked out) and GET /debug/stats from each
worker (heap, gc objects), fetched in the background so a build that answers slowly never delays
the outside samples. Where the lab's probe runs, the tasks are its count, ten times a second: the
/metrics gauge is only as fresh as its last scrape. /metrics needs no database connection, so it
still answers when a leak has emptied the pool (/debug/stats then times out: it asks PostgreSQL
too).
An app that is not this project's has none of those routes: its tasks, and the collection and
object growth after the load, come from the probe inside it (load/run/target.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from load.probe.attribution import ProbeChannel
from load.run.inside import Inside
from load.run.outside import ConnectionCounter, outside_sample
from load.run.servers import server_processes
from load.run.target import Target

INSIDE_INTERVAL_S = 1.0
INSIDE_TIMEOUT_S = 2.0
# a scrape is waited for, not abandoned: the server renders an abandoned scrape all the same, and
# a render slower than the poll interval (thousands of series, under tracing) would pile up
SCRAPE_TIMEOUT_S = 30.0
# and sent every few seconds, as Prometheus would, not at every poll of /debug/stats
SCRAPE_INTERVAL_S = 5.0
GROWTH_TIMEOUT_S = 10.0  # objgraph walks every object: slow on a twin that kept millions


@dataclass
class Sample:
    ts: float  # unix time
    phase: str  # warmup, measure, settled (after the load, after gc.collect in every worker)
    rss_mb: float  # all server processes
    uss_mb: float | None  # None: not known (a service the lab did not start)
    fds: int | None
    threads: int | None
    # per serving process, its anonymous memory (RSS less file-backed pages: heap, stacks,
    # buffers); the slope is fitted on it, per worker life. File-backed pages are the code of
    # libraries, mapped in as code paths run for the first time: they move RSS but never leak.
    worker_anon_mb: dict[int, float]
    db_connections: int | None
    pool_checked_out: int | None  # summed over workers, from their latest /debug/stats
    tasks: int | None
    heap_mb: float | None
    gc_objects: int | None
    requests: float = 0.0  # filled in from the load generator's progress (interpolated)
    failures: float = 0.0
    worker_rss_mb: dict[int, float] = field(default_factory=dict)  # what a memory budget reads

    @property
    def workers(self) -> int:
        return len(self.worker_anon_mb)


class Sampler:
    """Samples one build in a thread of its own until ``stop()``; ``samples`` grows meanwhile."""

    def __init__(
        self,
        *,
        target: Target,
        leader_pid: int,
        base_url: str,
        database_url: str | None,
        interval_s: float,
        phase: Callable[[float], str],
        headers: dict[str, str] | None = None,
        probe: ProbeChannel | None = None,
    ) -> None:
        self.target = target
        self.build = target.name
        self.leader_pid = leader_pid
        self.base_url = base_url
        # this project's app is asked through its routes (/metrics, /debug); any other app
        # through the probe inside it, when there is one
        self.routes = target.template
        self.probe = probe
        self.database_url, self.connections_like = target.connections(database_url)
        self.interval_s = interval_s
        self.phase = phase
        self.headers = headers or {}
        self.samples: list[Sample] = []
        self.worker_pids_seen: set[int] = set()
        self.inside = Inside()
        self.errors: list[str] = []
        self._scraped_at = -SCRAPE_INTERVAL_S  # the first poll scrapes
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sampler:{target.slug}", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._sample_until_stopped())

    def _counter(self) -> ConnectionCounter | None:
        if self.database_url is None:  # an app whose database the lab was not told of
            return None
        return ConnectionCounter(self.database_url, self.connections_like, self._note)

    async def _sample_until_stopped(self) -> None:
        counter = self._counter()
        limits = httpx.Limits(max_keepalive_connections=0)  # new connection: any worker may answer
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=INSIDE_TIMEOUT_S, limits=limits, headers=self.headers
        ) as client:
            inside_poll: asyncio.Task[None] | None = None
            last_inside = 0.0
            try:
                while not self._stop.is_set():
                    tick = time.monotonic()
                    if (inside_poll is None or inside_poll.done()) and (
                        tick - last_inside >= INSIDE_INTERVAL_S
                    ):
                        inside_poll = asyncio.create_task(self.poll_inside(client))
                        last_inside = tick
                    await self.take(counter, self.phase(time.time()))
                    await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - tick)))
            finally:
                if inside_poll is not None:  # a scrape may take long; the server finishes it
                    inside_poll.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await inside_poll
                if counter is not None:
                    await counter.close()

    async def take(self, counter: ConnectionCounter | None, phase: str) -> Sample | None:
        """One sample, or None when no server process is left: a dead server's zero memory is
        not a measurement (a drop to nothing would read as a spike that fell back)."""
        serving, totals = outside_sample(self.leader_pid)
        if not serving:
            return None
        self.worker_pids_seen.update(serving)
        pids = list(serving)
        db_connections = await counter.count() if counter is not None else None
        # the probe counts every tenth of a second; the app's gauge is as old as the last scrape
        tasks = self._probe_tasks(pids)
        if tasks is None and self.routes:
            tasks = self.inside.tasks_total(pids)
        pool = self.inside.pool_total(pids)
        gc_objects = self.inside.total(pids, "gc_objects")
        sample = Sample(
            ts=time.time(),
            phase=phase,
            rss_mb=round(totals["rss_mb"], 2),
            uss_mb=round(totals["uss_mb"], 2),
            fds=int(totals["fds"]),
            threads=int(totals["threads"]),
            worker_anon_mb={pid: round(totals[f"anon:{pid}"], 2) for pid in pids},
            worker_rss_mb={pid: round(totals[f"rss:{pid}"], 2) for pid in pids},
            db_connections=db_connections,
            pool_checked_out=int(pool) if pool is not None else None,
            tasks=int(tasks) if tasks is not None else None,
            heap_mb=self.inside.total(pids, "heap_mb"),
            gc_objects=int(gc_objects) if gc_objects is not None else None,
        )
        self.samples.append(sample)
        return sample

    def _note(self, error: str) -> None:
        if error not in self.errors:  # once each, not once a tick
            self.errors.append(error)

    def _probe_tasks(self, pids: list[int]) -> float | None:
        return self.probe.tasks(pids) if self.probe is not None else None

    async def poll_inside(self, client: httpx.AsyncClient, *, scrape: bool = False) -> None:
        """Ask every worker: with fresh connections the kernel spreads them over the workers.
        ``scrape``: read /metrics now, not only when the last scrape is SCRAPE_INTERVAL_S old."""
        if not self.routes:
            return
        _, workers = server_processes(self.leader_pid)
        attempts = 1 if len(workers) <= 1 else 3 * len(workers)
        single_pid = workers[0].pid if len(workers) == 1 else None
        scrape = scrape or time.monotonic() - self._scraped_at >= SCRAPE_INTERVAL_S
        metrics, *answers = await asyncio.gather(
            client.get("/metrics", timeout=SCRAPE_TIMEOUT_S) if scrape else _nothing(),
            *(client.get("/debug/stats") for _ in range(attempts)),
            return_exceptions=True,
        )
        if scrape:
            self._scraped_at = time.monotonic()
        if isinstance(metrics, httpx.Response) and metrics.status_code == 200:
            self.inside.read_metrics(metrics.text, single_pid)
        for answer in answers:
            if isinstance(answer, httpx.Response) and answer.status_code == 200:
                body = answer.json()
                self.inside.latest[int(body.get("pid", 0))] = body
                self.inside.answered += 1
            else:
                self.inside.failed += 1

    def settle(self) -> dict[str, Any]:
        """After the load: gc.collect() in each worker (GET /debug/growth), then a last sample."""
        return asyncio.run(self._settle())

    async def _settle(self) -> dict[str, Any]:
        counter = self._counter()
        growth: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url,
                timeout=INSIDE_TIMEOUT_S,
                limits=httpx.Limits(max_keepalive_connections=0),
                headers=self.headers,
            ) as client:
                _, workers = server_processes(self.leader_pid)
                if self.routes:
                    # one call per worker at least: each runs gc.collect() in the worker it reaches
                    answers = await asyncio.gather(
                        *(
                            self.growth(client)
                            for _ in range(1 if len(workers) <= 1 else 2 * len(workers))
                        )
                    )
                else:  # the probe collects in every worker at once
                    answers = [*self._probe_growth([worker.pid for worker in workers]), {}]
                growth = max(answers, key=lambda answer: len(answer.get("objects") or []))
                await asyncio.sleep(0.5)
                # a gauge scraped during the load would stand for the settled count
                await self.poll_inside(client, scrape=True)
                await self.take(counter, "settled")
        finally:
            if counter is not None:
                await counter.close()
        return growth

    def baseline(self) -> None:
        """The first growth call (/debug/growth, or the probe's): the reference the settled one
        is compared with. The probe's collects garbage and marks that heap line, the reference
        of the settled heap: both without garbage waiting for a collection."""
        workers = [worker.pid for worker in server_processes(self.leader_pid)[1]]
        if not self.routes:
            self._probe_growth(workers)
            return
        if self.probe is not None and workers:
            self.probe.ask("collect", workers, timeout_s=GROWTH_TIMEOUT_S)

        async def call() -> None:
            async with httpx.AsyncClient(base_url=self.base_url, headers=self.headers) as client:
                await self.growth(client)

        asyncio.run(call())

    def _probe_growth(self, pids: list[int]) -> list[dict[str, Any]]:
        """gc.collect() and the object types that grew, from the probe in each process."""
        if self.probe is None or not pids:
            return []
        answers = self.probe.ask("growth", pids, timeout_s=GROWTH_TIMEOUT_S)
        for pid in sorted(set(pids) - set(answers)):
            self._note(f"the probe in {pid} did not answer its growth call")
        return [answer for answer in answers.values() if answer.get("ok")]

    async def growth(self, client: httpx.AsyncClient) -> dict[str, Any]:
        return await debug_growth(client, self._note)


async def _nothing() -> None:
    """Stands in for a scrape not due at this poll."""


async def debug_growth(
    client: httpx.AsyncClient, note: Callable[[str], None], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """``GET /debug/growth`` of this project's app: a full collection in the worker that answers,
    and the types that grew since the baseline; {} (and a note) when it does not answer."""
    try:
        answer = await client.get("/debug/growth", headers=headers, timeout=GROWTH_TIMEOUT_S)
    except httpx.HTTPError as error:
        note(f"/debug/growth failed: {type(error).__name__}")
        return {}
    if answer.status_code != 200:
        note(f"/debug/growth answered {answer.status_code}")
        return {}
    body: dict[str, Any] = answer.json()
    return body

"""The supervised task registry: background work that cannot leak.

Every task it starts is held by a strong reference (the event loop keeps only weak ones, so an
unreferenced task can vanish mid-flight), forgotten when it finishes, bounded in how many run at
once, logged with its traceback when it fails, and cancelled and awaited on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

JobState = Literal["running", "succeeded", "failed", "cancelled"]


class RegistryFull(RuntimeError):
    """Too many jobs are running; the caller should retry later."""


@dataclass
class Job:
    id: str
    name: str
    state: JobState = "running"
    result: object = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None


@dataclass(frozen=True)
class RegistryStats:
    running: int
    max_running: int
    kept: int
    started_total: int
    failed_total: int


class TaskRegistry:
    def __init__(self, *, max_running: int, max_kept: int, shutdown_timeout_s: float) -> None:
        self._max_running = max_running
        self._max_kept = max_kept
        self._shutdown_timeout_s = shutdown_timeout_s
        self._running: dict[asyncio.Task[object], Job] = {}
        self._finished: OrderedDict[str, Job] = OrderedDict()
        self._started_total = 0
        self._failed_total = 0
        self._closed = False

    def start(self, name: str, work: Callable[[], Awaitable[object]]) -> Job:
        """Run ``work()`` as a supervised task; raise RegistryFull when the limit is reached."""
        if self._closed:
            raise RegistryFull("the service is shutting down")
        if len(self._running) >= self._max_running:
            raise RegistryFull(f"{self._max_running} jobs are already running")
        job = Job(id=uuid.uuid4().hex, name=name)

        async def run() -> object:
            return await work()

        task = asyncio.create_task(run(), name=f"job:{name}:{job.id}")
        self._running[task] = job
        self._started_total += 1
        task.add_done_callback(self._on_done)
        return job

    def _on_done(self, task: asyncio.Task[object]) -> None:
        job = self._running.pop(task)
        job.finished_at = time.time()
        if task.cancelled():
            job.state = "cancelled"
        elif (error := task.exception()) is not None:
            job.state, job.error = "failed", f"{type(error).__name__}: {error}"
            self._failed_total += 1
            logger.error("job %s (%s) failed", job.id, job.name, exc_info=error)
        else:
            job.state, job.result = "succeeded", task.result()
        self._finished[job.id] = job
        while len(self._finished) > self._max_kept:
            self._finished.popitem(last=False)

    def get(self, job_id: str) -> Job | None:
        for job in self._running.values():
            if job.id == job_id:
                return job
        return self._finished.get(job_id)

    def stats(self) -> RegistryStats:
        return RegistryStats(
            running=len(self._running),
            max_running=self._max_running,
            kept=len(self._finished),
            started_total=self._started_total,
            failed_total=self._failed_total,
        )

    async def shutdown(self) -> None:
        """Refuse new work, cancel what runs, and wait (bounded) for it to finish cancelling."""
        self._closed = True
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout_s)
        if pending:
            logger.error(
                "%d jobs ignored cancellation for %.1fs", len(pending), self._shutdown_timeout_s
            )

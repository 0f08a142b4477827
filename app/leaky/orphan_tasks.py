"""orphan-tasks: ``asyncio.create_task`` per request, kept in a set, never discarded or cancelled.

The anti-pattern: the asyncio documentation's "keep a reference" advice followed halfway. Each
POST /jobs starts a task and adds it to a module-level set, but without
``task.add_done_callback(_TASKS.discard)``, without a limit, and without anyone cancelling it at
shutdown. The job computes its summary and then keeps a progress heartbeat going, waiting for a
stop that nothing ever sends.

Retained: one pending ``asyncio.Task`` per request (its coroutine frame, the job and its result),
plus every job in a dict that GET /jobs/{id} reads. At shutdown the loop closes over them:
"Task was destroyed but it is pending!".

Grows: ``/debug/stats`` ``asyncio_tasks`` (and ``leakproof_asyncio_tasks`` in /metrics), one per
request; ``jobs.running`` stays 0 because the registry never sees them.

The fix: ``app/tasks.py:TaskRegistry.start`` (strong refs dropped when done, bounded concurrency,
errors logged) and ``app/tasks.py:TaskRegistry.shutdown`` (cancel and await).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import FastAPI, HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.deps import SessionmakerDep
from app.leaky.seams import Scenario, replace_route
from app.routes.jobs import JobId, _read, items_summary
from app.schemas import JobCreate, JobRead
from app.tasks import Job

ID = "orphan-tasks"
HEARTBEAT_S = 1.0

_TASKS: set[asyncio.Task[None]] = set()
_JOBS: dict[str, Job] = {}


async def summarise_then_beat(job: Job, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    try:
        job.result = await items_summary(sessionmaker)
        job.state = "succeeded"
    except Exception as error:
        job.state, job.error = "failed", f"{type(error).__name__}: {error}"
    job.finished_at = time.time()
    beats = 0
    while True:  # meant to stop when the client has read the result; nothing ever stops it
        await asyncio.sleep(HEARTBEAT_S)
        beats += 1  # a progress heartbeat: each orphan also wakes the loop once a second


async def start_job(sessionmaker: SessionmakerDep, body: JobCreate | None = None) -> JobRead:
    job = Job(id=uuid.uuid4().hex, name=(body or JobCreate()).kind)
    _JOBS[job.id] = job
    task = asyncio.create_task(summarise_then_beat(job, sessionmaker))
    _TASKS.add(task)  # a strong reference, and no done-callback to drop it
    return _read(job)


async def read_job(job_id: JobId) -> JobRead:
    job = _JOBS.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {job_id} not found")
    return _read(job)


def install(app: FastAPI) -> None:
    replace_route(app, "POST", "/jobs", start_job, status_code=status.HTTP_202_ACCEPTED)
    replace_route(app, "GET", "/jobs/{job_id}", read_job)


async def release(_app: FastAPI) -> None:
    """For tests: cancel every orphan and wait for it (the set outlives every app)."""
    tasks = list(_TASKS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    _TASKS.clear()
    _JOBS.clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="POST /jobs",
    leaks="a never-ending asyncio task per request, in a set nothing removes from",
    signal="asyncio_tasks",
    fix="app/tasks.py:TaskRegistry",
    install=install,
    release=release,
)

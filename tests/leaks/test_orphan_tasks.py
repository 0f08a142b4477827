"""orphan-tasks: each POST /jobs leaves a task running forever.

Mechanism: the twin's task never ends and nothing cancels it, so asyncio's task count grows by
one per job even after the job reports "succeeded". The fix's tasks end with their job and are
dropped from the registry: the count returns to the baseline.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.leaky.orphan_tasks import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import asyncio_tasks
from tests.support.leakcheck import LeakCheck

JOBS, WARMUP = 12, 3
JOB_TIMEOUT_S = 20
REASON = "the twin's job tasks never end and are never cancelled"


async def finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(JOB_TIMEOUT_S):  # generous: a shared CI machine can be slow
        while True:
            job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
            if job["state"] != "running":
                break
            await asyncio.sleep(0.01)
    assert job["state"] == "succeeded", job
    return job


async def run_job(client: httpx.AsyncClient) -> None:
    started = await client.post("/jobs", json={"kind": "items-summary"})
    assert started.status_code == 202, started.text
    await finished(client, started.json()["id"])


@pytest.mark.parametrize("build", builds(REASON))
async def test_jobs_do_not_leak_tasks_when_they_finish(
    build: str, start_build: Start, leak_check: LeakCheck
) -> None:
    async with start_build(build, ID) as running:
        await leak_check(
            lambda _: run_job(running.client),
            asyncio_tasks,
            times=JOBS,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one task left per job is 1
            name="asyncio tasks",
        )


async def test_twin_job_reads_back_with_the_fixed_shape(start_build: Start) -> None:
    async with start_build("leaky", ID) as running:
        started = (await running.client.post("/jobs")).json()  # no body: the default kind
        read = await finished(running.client, started["id"])
        missing = await running.client.get(f"/jobs/{'0' * 32}")
    assert set(read) == {"id", "name", "state", "result", "error", "started_at", "finished_at"}
    assert read["result"]["count"] == 0
    assert missing.status_code == 404

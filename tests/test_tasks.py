from __future__ import annotations

import asyncio
import logging

import pytest

from app.tasks import RegistryFull, TaskRegistry


def registry(**overrides: float) -> TaskRegistry:
    values: dict[str, float] = {"max_running": 2, "max_kept": 3, "shutdown_timeout_s": 1.0}
    values.update(overrides)
    return TaskRegistry(
        max_running=int(values["max_running"]),
        max_kept=int(values["max_kept"]),
        shutdown_timeout_s=values["shutdown_timeout_s"],
    )


async def test_finished_jobs_are_forgotten_by_the_running_set_and_kept_bounded() -> None:
    tasks = registry()

    async def work() -> int:
        return 7

    jobs = [tasks.start("w", work) for _ in range(2)]
    await asyncio.sleep(0.01)
    jobs += [tasks.start("w", work) for _ in range(2)]
    await asyncio.sleep(0.01)
    stats = tasks.stats()
    assert stats.running == 0
    assert stats.kept == 3
    assert tasks.get(jobs[-1].id) is not None
    assert tasks.get(jobs[0].id) is None  # the oldest record went first
    assert tasks.get(jobs[-1].id).result == 7  # type: ignore[union-attr]


async def test_the_limit_refuses_more_running_jobs() -> None:
    tasks = registry(max_running=1)
    gate = asyncio.Event()
    tasks.start("slow", gate.wait)
    with pytest.raises(RegistryFull):
        tasks.start("slow", gate.wait)
    gate.set()
    await tasks.shutdown()


async def test_a_failing_job_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    tasks = registry()

    async def boom() -> None:
        raise ValueError("no such thing")

    job = tasks.start("boom", boom)
    await asyncio.sleep(0.01)
    assert job.state == "failed"
    assert job.error == "ValueError: no such thing"
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.exc_info is not None
    assert tasks.stats().failed_total == 1


async def test_shutdown_cancels_and_awaits_running_jobs_and_refuses_new_ones() -> None:
    tasks = registry()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    job = tasks.start("forever", forever)
    await asyncio.sleep(0)
    await tasks.shutdown()
    assert cancelled.is_set()
    assert job.state == "cancelled"
    assert tasks.stats().running == 0
    with pytest.raises(RegistryFull, match="shutting down"):
        tasks.start("late", forever)

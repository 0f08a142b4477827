"""The worker's server, without gunicorn: past its memory budget it asks uvicorn to exit (the
max_requests path), says why in one log line, and counts the recycle by its reason."""

from __future__ import annotations

import asyncio
import logging
import mmap
import tracemalloc

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config

from app.serving.memory_budget import MB, rss_bytes
from app.serving.worker import DrainingServer


async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("no request is served here")


def server(memory_limit_bytes: int | None, limit_max_requests: int | None = None) -> DrainingServer:
    config = Config(nothing, limit_max_requests=limit_max_requests)
    return DrainingServer(config, memory_limit_bytes=memory_limit_bytes)


async def test_a_worker_past_its_budget_exits_as_max_requests_does_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    over = server(memory_limit_bytes=rss_bytes() + 4 * MB)
    over.started = True
    over.server_state.total_requests = 1234
    tracemalloc.start(1)
    try:
        with caplog.at_level(logging.WARNING, logger="app.serving.worker"):
            watching = asyncio.create_task(over.watch_memory())
            await asyncio.sleep(0.15)  # the baseline snapshot, then the next check
            retained = [b"x" * (256 * 1024) for _ in range(64)]  # 16 MB that grew meanwhile
            # freed heap that glibc kept may hold those 16 MB without RSS moving (a long test
            # session frees plenty): fresh anonymous pages always count
            fresh = mmap.mmap(-1, 16 * MB)
            for offset in range(0, 16 * MB, 4096):
                fresh[offset] = 1
            await asyncio.wait_for(watching, timeout=5)
            fresh.close()
    finally:
        tracemalloc.stop()
    assert retained
    assert over.should_exit
    assert over.recycle_reason == "memory"
    line = caplog.text
    assert "recycled by memory: RSS" in line
    assert "USS" in line
    assert "after 1234 requests" in line
    assert "grew most at: " in line
    assert "test_worker.py" in line  # the site that grew: the bytearrays above


async def test_a_worker_within_its_budget_keeps_serving() -> None:
    within = server(memory_limit_bytes=rss_bytes() * 4)
    watching = asyncio.create_task(within.watch_memory())
    await asyncio.sleep(0.35)
    assert not within.should_exit
    within.should_exit = True  # as a TERM would
    await asyncio.wait_for(watching, timeout=1)
    assert within.recycle_reason is None


@pytest.mark.parametrize(
    ("reason", "served", "limit", "counted"),
    [("memory", 10, None, "memory"), (None, 50, 50, "requests"), (None, 10, 50, None)],
)
def test_shutdown_names_the_recycle_it_counts(
    reason: str | None, served: int, limit: int | None, counted: str | None
) -> None:
    # the count itself lands in /metrics under gunicorn: tests/test_metrics_multiprocess.py
    # (requests) and tests/faults/test_memory_recycling.py (memory)
    stopping = server(memory_limit_bytes=None, limit_max_requests=limit)
    stopping.recycle_reason = reason
    stopping.server_state.total_requests = served
    stopping.count_recycle()  # what shutdown does first
    assert stopping.recycle_reason == counted

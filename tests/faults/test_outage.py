"""The database goes away mid-load and comes back: 503 fast while it is away, recovery on its
own within seconds, no connection leaked, no acknowledged write lost.

A PostgreSQL of the test's own (never the shared one) is stopped with a fast shutdown, which
ends every session as a failover or a restart for an upgrade would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.postgres import (
    DedicatedPostgres,
    app_connections,
    dedicated_postgres,
    missing_items,
    wait_app_connections,
)
from tests.faults.traffic import Tally, drive
from tests.support.servers import running

pytestmark = pytest.mark.faults

POOL_TIMEOUT_S = 2.0
DOWN_S = 3.0
RECOVERY_BUDGET_S = 5.0
POOL_SIZE, MAX_OVERFLOW = 5, 2


@pytest.fixture
def own_postgres() -> Iterator[DedicatedPostgres]:
    with dedicated_postgres("outage") as server:
        yield server


async def poll_ready(base_url: str, until: float) -> list[tuple[float, int, float]]:
    """(when, status, seconds it took) of /health/ready, every 0.2 s until ``until``."""
    seen = []
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            response = await client.get("/health/ready")
            seen.append((started, response.status_code, time.monotonic() - started))
            await asyncio.sleep(0.2)
    return seen


async def test_database_restart_under_load_fails_fast_recovers_and_loses_nothing(
    own_postgres: DedicatedPostgres, log_dir: Path
) -> None:
    url = own_postgres.url
    with running(
        "uvicorn",
        url,
        log_dir,
        LEAKPROOF_DB_POOL_SIZE=str(POOL_SIZE),
        LEAKPROOF_DB_MAX_OVERFLOW=str(MAX_OVERFLOW),
        LEAKPROOF_DB_POOL_TIMEOUT_S=str(POOL_TIMEOUT_S),
    ) as server:
        tally = Tally()
        stop = asyncio.Event()
        load = asyncio.create_task(
            drive(
                server.url,
                concurrency=8,
                duration_s=60,
                max_requests=100_000,
                tally=tally,
                stop=stop,
                pause_s=0.01,
            )
        )
        await asyncio.sleep(2)
        went_down = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        readiness_down = await poll_ready(server.url, until=time.monotonic() + DOWN_S)
        came_back = time.monotonic()
        await asyncio.to_thread(own_postgres.start)
        up = time.monotonic()
        readiness_up = await poll_ready(server.url, until=up + RECOVERY_BUDGET_S + 1)
        stop.set()
        await load
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            stats = (await client.get("/debug/stats")).json()
        connections_running = await app_connections(url)
        output = server.output()
    connections_after, _ = await wait_app_connections(url, at_most=0, timeout_s=5)

    during = tally.between(went_down, up)
    after_up = tally.between(up, time.monotonic())
    failed_after_up = [o for o in after_up if not o.ok]
    recovered_s = max((o.ended for o in failed_after_up), default=up) - up
    ready_again_s = min((t for t, status, _ in readiness_up if status == 200), default=1e9) - up
    print(
        f"outage {up - went_down:.1f}s (start took {up - came_back:.2f}s): during "
        f"{Tally(during).statuses()}, slowest "
        f"{max(o.ended - o.started for o in during):.3f}s; after: {len(failed_after_up)} failed, "
        f"recovered in {recovered_s:.2f}s, ready in {ready_again_s:.2f}s; "
        f"{len(tally.created_ids)} writes acknowledged; pool {stats['pool']}; "
        f"connections {connections_running} running, {connections_after} after stop"
    )
    # while it is away: ready says 503, requests get a fast 503 that says why, never a hang
    assert readiness_down, "readiness was never asked while the database was away"
    assert {status for _, status, _ in readiness_down} == {503}
    failures = [o for o in during if not o.ok]
    assert failures, "no request reached the database while it was away"
    assert {o.status for o in failures} == {503}
    assert all("database" in str(o.detail) for o in failures)
    assert max(o.ended - o.started for o in during) < POOL_TIMEOUT_S + 1
    # back by itself within the budget, and serving
    assert ready_again_s <= RECOVERY_BUDGET_S
    assert recovered_s <= RECOVERY_BUDGET_S
    assert after_up
    assert after_up[-1].ok
    assert all(o.ok for o in tally.between(up + RECOVERY_BUDGET_S, time.monotonic()))
    # nothing leaked, nothing lost
    assert stats["pool"]["checked_out"] == 0
    assert connections_running <= POOL_SIZE + MAX_OVERFLOW
    assert connections_after == 0
    assert await missing_items(url, tally.created_ids) == []
    assert "Traceback" not in output

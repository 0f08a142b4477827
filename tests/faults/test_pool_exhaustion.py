"""More slow requests than the pool holds: the excess get 503 with Retry-After within the pool
timeout, the slow ones are cut by the statement timeout, and nothing leaks afterwards.

What makes the requests slow is real: a row lock held by another client (the test, from its own
connection), which every PATCH of that item waits for with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.postgres import wait_app_connections
from tests.support.database import connected
from tests.support.servers import running

pytestmark = pytest.mark.faults

POOL_SIZE, MAX_OVERFLOW = 2, 1
POOL_TIMEOUT_S = 1.0
STATEMENT_TIMEOUT_MS = 2000
LOCK_HELD_S = 4.0
SLOW_REQUESTS = 12
MARGIN_S = 1.0


async def timed_patch(
    client: httpx.AsyncClient, item_id: int, n: int
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.patch(f"/items/{item_id}", json={"description": f"edit {n}"})
    return response, time.monotonic() - started


async def test_requests_beyond_the_pool_get_503_with_retry_after_and_nothing_leaks(
    server_database: str, log_dir: Path
) -> None:
    with running(
        "uvicorn",
        server_database,
        log_dir,
        LEAKPROOF_DB_POOL_SIZE=str(POOL_SIZE),
        LEAKPROOF_DB_MAX_OVERFLOW=str(MAX_OVERFLOW),
        LEAKPROOF_DB_POOL_TIMEOUT_S=str(POOL_TIMEOUT_S),
        LEAKPROOF_DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
        # the pool alone: the admission limit in front of it (one request per connection, 3
        # here) would queue most of these first; tests/test_admission.py covers it
        LEAKPROOF_MAX_ACTIVE_REQUESTS="0",
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            item = (await client.post("/items", json={"name": "contended", "price": 1})).json()
            async with connected(server_database) as locker, locker.transaction():
                await locker.execute("SELECT 1 FROM items WHERE id = $1 FOR UPDATE", item["id"])
                results = await asyncio.wait_for(
                    asyncio.gather(
                        *(timed_patch(client, item["id"], n) for n in range(SLOW_REQUESTS))
                    ),
                    timeout=LOCK_HELD_S,
                )
            after = await client.patch(f"/items/{item['id']}", json={"description": "free"})
            stats = (await client.get("/debug/stats")).json()
        output = server.output()
    connections_after, _ = await wait_app_connections(server_database, at_most=0, timeout_s=5)

    busy = [(r, s) for r, s in results if "connections are busy" in r.text]
    too_long = [(r, s) for r, s in results if "took too long" in r.text]
    print(
        f"{SLOW_REQUESTS} PATCHes on a locked row, pool {POOL_SIZE}+{MAX_OVERFLOW}: "
        f"{len(busy)} pool-busy 503 (slowest {max(s for _, s in busy):.2f}s), "
        f"{len(too_long)} statement-timeout 503 (slowest {max(s for _, s in too_long):.2f}s); "
        f"after: {after.status_code}, pool {stats['pool']}"
    )
    assert {r.status_code for r, _ in results} == {503}
    assert all(r.headers.get("retry-after") for r, _ in results)
    assert len(busy) == SLOW_REQUESTS - (POOL_SIZE + MAX_OVERFLOW)
    assert len(too_long) == POOL_SIZE + MAX_OVERFLOW
    assert max(s for _, s in busy) < POOL_TIMEOUT_S + MARGIN_S
    assert max(s for _, s in too_long) < STATEMENT_TIMEOUT_MS / 1000 + MARGIN_S
    assert after.status_code == 200
    assert stats["pool"]["checked_out"] == 0
    assert connections_after == 0
    assert "Traceback" not in output

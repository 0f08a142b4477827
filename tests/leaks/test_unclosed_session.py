"""unclosed-session: a plain dependency's session is never closed; one connection per request.

Mechanism: each request's first query checks a connection out and nothing checks it back in, so
the twin's checked-out count and its pg_stat_activity rows grow by one per request. The fix
returns every connection before the response, so both stay at what a warm pool holds.
"""

from __future__ import annotations

import httpx
import pytest

from app.leaky.unclosed_session import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import pg_activity
from tests.support.leakcheck import Action, LeakCheck

REQUESTS, WARMUP = 12, 3
# one connection per request is a growth of 1 per action; a pool that fills once is 0
LIMIT = 0.25
SETTINGS = {"db_pool_size": REQUESTS + 2, "db_max_overflow": 0, "db_pool_timeout_s": 2.0}
REASON = "the twin's sessions are never closed: one connection per request stays checked out"


def create(client: httpx.AsyncClient) -> Action:
    async def action(index: int) -> None:
        response = await client.post("/items", json={"name": f"lamp-{index}", "price": 1})
        assert response.status_code == 201, response.text

    return action


@pytest.mark.parametrize("build", builds(REASON))
async def test_sessions_do_not_leak_pool_connections_when_requests_repeat(
    build: str, start_build: Start, leak_check: LeakCheck
) -> None:
    async with start_build(build, ID, **SETTINGS) as running:
        await leak_check(
            create(running.client),
            running.checked_out,
            times=REQUESTS,
            warmup=WARMUP,
            max_growth_per_action=LIMIT,
            name="pool checked-out",
        )


@pytest.mark.parametrize("build", builds(REASON))
async def test_sessions_do_not_leak_server_connections_when_requests_repeat(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    async with (
        start_build(build, ID, **SETTINGS) as running,
        pg_activity(database_url, running.application_name) as connections,
    ):
        await leak_check(
            create(running.client),
            connections,
            times=REQUESTS,
            warmup=WARMUP,
            max_growth_per_action=LIMIT,
            name="pg_stat_activity rows",
        )

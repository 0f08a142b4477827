"""engine-per-request: the twin's readiness probe builds an engine per call and keeps it.

Mechanism: every engine keeps its one pooled connection open, so the server's connections named
after the twin grow by one per probe (up to the twin's bound). The fix probes through the one
engine of the lifespan: its pool reuses a connection and the count stays put.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.leaky.engine_per_request import ID, OPEN_CONNECTIONS_MAX
from tests.leaks.conftest import LEAKY, Start, builds
from tests.leaks.signals import live_instances, pg_activity
from tests.support.leakcheck import LeakCheck

PROBES, WARMUP = 12, 3
CONCURRENT = 6  # a batch straddles the bound: engines 19 to 24 are made at once
REASON = "the twin keeps an engine, and its open connection, per probe"


@pytest.mark.parametrize("build", builds(REASON))
async def test_ready_probe_does_not_leak_server_connections_when_repeated(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    async with (
        start_build(build, ID) as running,
        pg_activity(database_url, running.application_name) as connections,
    ):

        async def probe(_index: int) -> None:
            response = await running.client.get("/health/ready")
            assert response.status_code == 200, response.text

        await leak_check(
            probe,
            connections,
            times=PROBES,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one connection kept per probe is 1
            name="pg_stat_activity rows",
        )


async def test_twin_keeps_engines_but_bounds_their_connections(
    start_build: Start, database_url: str
) -> None:
    """The bound that keeps the twin from taking every connection of a shared server."""
    batches = OPEN_CONNECTIONS_MAX // CONCURRENT + 2
    probes = batches * CONCURRENT
    async with (
        start_build(LEAKY, ID) as running,
        pg_activity(database_url, running.application_name) as connections,
    ):
        engines_before = live_instances(AsyncEngine)
        for _ in range(batches):  # concurrent probes: the bound counts engines made, not done
            answers = await asyncio.gather(
                *(running.client.get("/health/ready") for _ in range(CONCURRENT))
            )
            assert {answer.status_code for answer in answers} == {200}
        held = await connections()
        engines = live_instances(AsyncEngine) - engines_before
    assert engines == probes
    pool_size = running.resources.settings.db_pool_size
    assert OPEN_CONNECTIONS_MAX <= held <= OPEN_CONNECTIONS_MAX + pool_size

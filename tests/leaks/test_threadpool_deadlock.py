"""threadpool-deadlock: the twin's sync read needs two connections at once and locks up.

Mechanism: each concurrent read holds one connection (its dependency's session) and waits for a
second; from ``SYNC_POOL_SIZE`` concurrent reads on, none can finish, and every read of the batch
fails when the pool timeout ends the wait. The fix takes one connection per read, for its query
only: with the same pool size, every read of a batch twice as large is answered.
"""

from __future__ import annotations

import asyncio

import pytest

from app.leaky.threadpool_deadlock import ID, SYNC_POOL_SIZE
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import seed_items
from tests.support.leakcheck import LeakCheck

CONCURRENT = 2 * SYNC_POOL_SIZE  # past the lock-up's threshold, with room to spare
BATCHES, WARMUP = 4, 1
SETTINGS = {
    "db_pool_size": SYNC_POOL_SIZE,  # the fixed build gets the same pool as the twin's sync path
    "db_max_overflow": 0,
    "db_pool_timeout_s": 1.0,  # the twin's lock-up clears (as 503s) after this
    "cache_max_entries": 0,  # every read goes to the database
}
REASON = "the twin's sync reads each hold a connection while waiting for a second one"


@pytest.mark.parametrize("build", builds(REASON))
async def test_concurrent_reads_past_the_pool_size_are_all_answered(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    ids = await seed_items(database_url, CONCURRENT)
    failed = 0
    async with start_build(build, ID, **SETTINGS) as running:

        async def batch(_index: int) -> None:
            nonlocal failed
            answers = await asyncio.gather(*(running.client.get(f"/items/{id_}") for id_ in ids))
            failed += sum(1 for answer in answers if answer.status_code != 200)
            # a locked-up read ends as the pool timeout's 503, never a hang or a 500
            assert {answer.status_code for answer in answers} <= {200, 503}

        await leak_check(
            batch,
            lambda: failed,
            times=BATCHES,
            warmup=WARMUP,
            # a lock-up fails the whole batch (CONCURRENT reads); the fix fails none
            max_growth_per_action=0.25,
            name="reads not answered 200",
        )

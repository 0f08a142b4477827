"""global-state: a module-level dict keeps one ItemRead per distinct item read, forever.

Mechanism: every read of a new id adds an entry and nothing removes one, so the live ItemRead
objects grow by one per distinct read. The fix's cache holds at most ``cache_max_entries``: once
it is full, each new entry evicts an old one and the count stays put.
"""

from __future__ import annotations

import pytest

from app.leaky.global_state import ID
from app.schemas import ItemRead
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import live_instances, seed_items
from tests.support.leakcheck import LeakCheck

CACHE_ENTRIES = 8
READS = 40
REASON = "the twin's module-level dict keeps every item it has read"


@pytest.mark.parametrize("build", builds(REASON))
async def test_item_cache_does_not_leak_entries_when_many_items_are_read(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    ids = await seed_items(database_url, READS)
    async with start_build(build, ID, cache_max_entries=CACHE_ENTRIES) as running:

        async def read(index: int) -> None:
            response = await running.client.get(f"/items/{ids[index]}")
            assert response.status_code == 200, response.text

        await leak_check(
            read,
            lambda: live_instances(ItemRead),
            times=READS,
            # the fixed cache fills in CACHE_ENTRIES reads, then stays full
            warmup=2 * CACHE_ENTRIES,
            # one kept entry per distinct read is a growth of 1 per action
            max_growth_per_action=0.25,
            every=4,
            name="live ItemRead objects",
        )

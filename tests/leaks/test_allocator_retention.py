"""allocator-retention: the twin's list page builds the whole table on many threads at once.

Mechanism: each concurrent page allocates a list of every item on a worker thread and frees it
when it returns. The heap comes back (nothing is kept), but the allocators keep the memory of
the concurrent peak: RSS steps up by a sizeable share of (concurrency x one list) and stays. The
fix pages in the database: a page costs its own fifty items, so RSS stays where the sequential
warm-up left it. The check is on RSS (strict xfail on the twin), after the heap is shown flat
on both builds: the twin keeps memory, not objects.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import psutil
import pytest

from app.leaky.allocator_retention import ID
from tests.leaks.conftest import Running, Start, builds
from tests.leaks.signals import seed_items
from tests.support.leakcheck import Action, LeakError, Series, assert_levels_off, sample

SMALL_TABLE = 60  # the warm-up's table: a twin page builds about one page
ROWS = 2500  # then the table's size: one twin page builds this many ItemRead, a few MB
CONCURRENT = 12  # pages at once: as many threads, each with its own list
WARMUP, BATCHES = 2, 5
# tracemalloc slows every allocation: a shared machine must not turn that into timeouts
SETTINGS = {"db_statement_timeout_ms": 60_000, "db_pool_timeout_s": 60.0}
MB = 2**20
# One twin page's list is ~2.5 MB and a batch builds CONCURRENT of them at once: RSS kept at
# that peak is several MB a batch. Less than half of one list a batch is "flat"; a page of
# fifty items leaves far less.
RSS_LIMIT_MB_PER_BATCH = 1.0
# Kept objects would be a whole list (~2.5 MB) a page; a tenth of one a batch allows for the
# interpreter's free lists filling once as the table grows, and nothing more.
HEAP_LIMIT_MB_PER_BATCH = 0.25
REASON = "the allocators keep the twin's concurrent peaks: RSS steps up while the heap is flat"


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def heap_mb() -> float:
    return tracemalloc.get_traced_memory()[0] / MB


def pages(running: Running, database_url: str) -> Action:
    """Concurrent pages over a small table during the warm-up (threads, pools, code paths),
    then the table grows to ROWS and the same concurrent pages go on."""

    async def page() -> None:
        response = await running.client.get("/items?limit=50")
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 50

    async def action(index: int) -> None:
        if index == WARMUP:
            await seed_items(database_url, ROWS - SMALL_TABLE, start=SMALL_TABLE + 1)
        await asyncio.gather(*(page() for _ in range(CONCURRENT)))

    return action


@pytest.mark.parametrize("build", builds(REASON))
async def test_concurrent_list_pages_do_not_raise_rss(
    build: str, start_build: Start, database_url: str, traced: None
) -> None:
    await seed_items(database_url, SMALL_TABLE)
    async with start_build(build, ID, **SETTINGS) as running:
        heaps: list[tuple[int, float]] = []

        def rss_and_heap() -> float:
            heaps.append((len(heaps), heap_mb()))
            return rss_mb()

        rss = await sample(
            pages(running, database_url), rss_and_heap, times=WARMUP + BATCHES, name="RSS MB"
        )
    heap = Series("traced heap MB", tuple(heaps))
    # nothing is kept on either build: what follows is memory, not objects (and a twin that
    # kept objects would fail here, not as the expected LeakError below)
    try:
        assert_levels_off(heap, warmup=WARMUP, max_growth_per_action=HEAP_LIMIT_MB_PER_BATCH)
    except LeakError as kept:
        raise AssertionError(f"objects are kept: this is not allocator retention\n{kept}") from None
    assert_levels_off(rss, warmup=WARMUP, max_growth_per_action=RSS_LIMIT_MB_PER_BATCH)

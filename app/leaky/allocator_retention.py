"""allocator-retention: a ``def`` list page that builds the whole table, on many threads at once.

Not a leak, and taught as one that is not. The anti-pattern: the list page is a sync (``def``)
endpoint that pages in Python: it loads every item after the cursor, validates each into an
``ItemRead`` and slices one page off the list. FastAPI runs it on AnyIO's thread pool, so under
load a dozen threads each build a list of the whole table at the same time. When they return,
every object is freed: the Python heap (tracemalloc) goes back to where it was. RSS does not.
CPython's small-object allocator keeps an arena while any block in it is used, and glibc gives
each allocating thread an arena of its own (up to eight per core) and keeps what it freed in
them for reuse; so the process stays at the high-water mark of the largest concurrent peak.

Retained: no object. The memory the allocators hold after the peak (their free lists and
partly used arenas), which grows with the concurrency of the peaks and the table's size, and is
reused by the next peak rather than returned.

Grows: ``/debug/stats`` ``rss_mb`` and ``uss_mb`` step up under concurrent list pages while
``heap_mb`` (with ``LEAKPROOF_TRACEMALLOC_FRAMES``) and ``gc_objects`` come back; ``threads``
rises with the pool. The line building the transient list is the list comprehension in
``build_list_items``.

The fix: ``app/routes/items.py:build_list_route`` (the database pages with ``LIMIT``: a page
costs its own size, and no thread). Outside the code: ``MALLOC_ARENA_MAX=2`` (the Dockerfile
sets it) caps glibc at two arenas, so the threads share, and reuse, the same memory; jemalloc
(``LD_PRELOAD``) returns freed pages to the system over time.
"""

# No `from __future__ import annotations`: the endpoint annotates with a local alias (the page
# size bound comes from settings), which FastAPI must be able to evaluate.

from collections.abc import Callable
from typing import Annotated

from anyio import from_thread
from fastapi import FastAPI, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.leaky.seams import Scenario, replace_route
from app.models import Item
from app.schemas import ItemPage, ItemRead

ID = "allocator-retention"

ITEMS = select(*Item.__table__.columns).order_by(Item.id)


async def rows_after(engine: AsyncEngine, after: int) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(ITEMS.where(Item.id > after))
        return [dict(row) for row in result.mappings()]


def build_list_items(page_size_max: int) -> Callable[..., ItemPage]:
    PageSize = Annotated[int, Query(ge=1, le=page_size_max)]

    def list_items(
        request: Request,
        limit: PageSize = 50,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    ) -> ItemPage:
        """``def``: runs on a worker thread; builds every item after ``after`` to keep ``limit``."""
        engine = request.state.resources.engine
        rows = from_thread.run(rows_after, engine, after)
        items = [ItemRead.model_validate(row) for row in rows]  # the whole table, for one page
        page = items[:limit]
        return ItemPage(items=page, next_after=page[-1].id if len(items) > limit else None)

    return list_items


def install(app: FastAPI) -> None:
    replace_route(app, "GET", "/items", build_list_items(app.state.settings.page_size_max))


async def release(_app: FastAPI) -> None:
    """Nothing is kept: the memory is the allocators', not the app's."""


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items?limit=&after=",
    leaks="nothing kept: the allocators hold the high-water mark of concurrent transient lists",
    signal="rss_mb up while heap_mb and gc_objects come back (not a leak)",
    fix="app/routes/items.py:build_list_route; MALLOC_ARENA_MAX",
    install=install,
    release=release,
)

"""schema-per-call: the list page builds its row schema and its adapter inside the request.

The anti-pattern: the page's schema is made where it is used. The handler makes a row model with
``create_model`` (here a plain subclass of ``ItemRead``; in the field, a model derived from the
ORM class, a partial model for a PATCH, a user's model wrapped for an SDK), and gets its
``TypeAdapter`` from a helper memoized by type, because building adapters is known to be slow.
A class made per call is a new key every time: the memo never hits, and it keeps every class
with its core schema, validator and serializer. With the pinned pydantic the constructions
alone are garbage once the request ends (docs/leaks.md has the measurements); anything that
remembers them by type turns them into a leak: this memo, a library's ``lru_cache``, pydantic's
own caches in the versions the upstream threads were filed against. Every page also pays for
building two validators, which a page validated with a ready adapter never does.

Retained: per list page, one ``ItemRow`` class and one ``TypeAdapter`` with their
pydantic-core ``SchemaValidator`` and ``SchemaSerializer`` (two of each) and the schema dicts
they were built from, in ``rows_adapter``'s cache, for the life of the process.

Grows: ``/debug/growth`` lists ``SchemaValidator`` and ``SchemaSerializer`` (two each a list
page), ``FieldInfo`` (one per field of the row) and the schema's ``dict``, ``list`` and ``set``;
``/debug/stats`` ``gc_objects``, ``heap_mb`` (with ``LEAKPROOF_TRACEMALLOC_FRAMES``) and
``rss_mb``.

The fix: ``app/routes/items.py:ITEM_ROWS`` (one adapter, built at import, used by every page
of ``build_list_route``).
"""

# No `from __future__ import annotations`: the endpoint annotates with a local alias (the page
# size bound comes from settings), which FastAPI must be able to evaluate.

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import TypeAdapter, create_model
from sqlalchemy import select

from app.deps import SessionDep
from app.leaky.seams import Scenario, replace_route
from app.models import Item
from app.schemas import ItemPage, ItemRead

ID = "schema-per-call"


@cache  # meant to build each adapter once; keyed by a class made per call, it never hits
def rows_adapter(row: type[ItemRead]) -> TypeAdapter[list[ItemRead]]:
    return TypeAdapter(list[row])  # type: ignore[valid-type]


def build_list_items(page_size_max: int) -> Callable[..., Awaitable[ItemPage]]:
    PageSize = Annotated[int, Query(ge=1, le=page_size_max)]

    async def list_items(
        session: SessionDep,
        limit: PageSize = 50,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    ) -> ItemPage:
        """The fixed page's query and answer; only where its schema comes from differs."""
        rows = await session.scalars(
            select(Item).where(Item.id > after).order_by(Item.id).limit(limit + 1)
        )
        row = create_model("ItemRow", __base__=ItemRead)  # the bug: a schema per request
        items: list[ItemRead] = rows_adapter(row).validate_python(rows.all(), from_attributes=True)
        has_more = len(items) > limit
        items = items[:limit]
        return ItemPage(items=items, next_after=items[-1].id if has_more else None)

    return list_items


def install(app: FastAPI) -> None:
    replace_route(app, "GET", "/items", build_list_items(app.state.settings.page_size_max))


async def release(_app: FastAPI) -> None:
    """For tests: forget every kept schema (the cache is process-wide)."""
    rows_adapter.cache_clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items?limit=&after=",
    leaks="a row model and its TypeAdapter per list page, kept by a cache keyed by the new class",
    signal="gc_objects, heap_mb; /debug/growth: SchemaValidator, SchemaSerializer",
    fix="app/routes/items.py:ITEM_ROWS",
    install=install,
    release=release,
)

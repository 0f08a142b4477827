"""CRUD for items: keyset pages, the injected cache on reads, invalidation on writes."""

# No `from __future__ import annotations` here: build_list_route annotates with a local alias,
# which FastAPI must be able to evaluate.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache import Cache, cache_of
from app.deps import SessionDep
from app.errors import documented, not_found
from app.models import Item
from app.schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The item's id.")]
get_item_cache = cache_of("items", ItemRead)
ItemCacheDep = Annotated[Cache[ItemRead], Depends(get_item_cache)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(400, 409, 413, 503))
async def create_item(body: ItemCreate, session: SessionDep) -> ItemRead:
    item = Item(**body.model_dump())
    session.add(item)
    await session.flush()  # a taken name is a 409 naming the field (app.errors)
    await session.refresh(item)
    return ItemRead.model_validate(item)


@router.get("/{item_id}", responses=documented(404, 503))
async def read_item(item_id: ItemId, session: SessionDep, cache: ItemCacheDep) -> ItemRead:
    cached = await cache.get(item_id)
    if isinstance(cached, ItemRead):
        return cached
    item = await session.get(Item, item_id)
    if item is None:
        raise not_found("item", item_id)
    read = ItemRead.model_validate(item)
    await cache.put(item_id, read)
    return read


@router.patch("/{item_id}", responses=documented(400, 404, 409, 413, 503))
async def update_item(
    item_id: ItemId, body: ItemUpdate, session: SessionDep, cache: ItemCacheDep
) -> ItemRead:
    item = await session.get(Item, item_id, with_for_update=True)
    if item is None:
        raise not_found("item", item_id)
    changes = body.model_dump(exclude_unset=True)  # ItemUpdate refuses a null name or price
    for attribute, value in changes.items():
        setattr(item, attribute, value)
    await session.flush()
    await session.refresh(item)
    updated = ItemRead.model_validate(item)
    await _commit_then_invalidate(session, cache, item_id)
    return updated


@router.delete(
    "/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(404, 409, 503)
)
async def delete_item(item_id: ItemId, session: SessionDep, cache: ItemCacheDep) -> Response:
    item = await session.get(Item, item_id)
    if item is None:
        raise not_found("item", item_id)
    await session.delete(item)
    await _commit_then_invalidate(session, cache, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _commit_then_invalidate(
    session: AsyncSession, cache: Cache[ItemRead], item_id: int
) -> None:
    # Invalidate only once the change is visible to others: invalidating first would let a read
    # elsewhere (another worker, with a shared cache) re-cache the old row until the TTL ends.
    # A read that fetched the old row before the commit can still put it back after this
    # invalidation: that staleness is bounded by the cache TTL, not prevented.
    # The session dependency's own commit then finds nothing left to do.
    await session.commit()
    await cache.invalidate(item_id)


# Built once, at import: the adapter compiles its validator when it is made, so a page validates
# its rows in one call and no request builds (or leaves behind) a schema of its own.
ITEM_ROWS: TypeAdapter[list[ItemRead]] = TypeAdapter(list[ItemRead])


def build_list_route(page_size_max: int) -> APIRouter:
    """The list route, with its page-size bound taken from settings when the app is built."""
    list_router = APIRouter(prefix="/items", tags=["items"])
    PageSize = Annotated[
        int, Query(ge=1, le=page_size_max, description=f"Items per page, at most {page_size_max}.")
    ]

    @list_router.get("", responses=documented(503))
    async def list_items(
        session: SessionDep,
        limit: PageSize = 50,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Last id seen.")] = 0,
    ) -> ItemPage:
        rows = await session.scalars(
            select(Item).where(Item.id > after).order_by(Item.id).limit(limit + 1)
        )
        items = ITEM_ROWS.validate_python(rows.all(), from_attributes=True)
        has_more = len(items) > limit
        items = items[:limit]
        return ItemPage(items=items, next_after=items[-1].id if has_more else None)

    return list_router

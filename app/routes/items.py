"""CRUD for items: keyset pages, the injected cache on reads, invalidation on writes."""

# No `from __future__ import annotations` here: build_list_route annotates with a local alias,
# which FastAPI must be able to evaluate.

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache import Cache
from app.deps import CacheDep, SessionDep
from app.errors import documented
from app.models import Item
from app.schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The item's id.")]


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"item {item_id} not found")


def _name_taken(name: str | None) -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        detail=f"an item named {name!r} already exists; choose another name",
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(400, 409, 413, 503))
async def create_item(body: ItemCreate, session: SessionDep) -> ItemRead:
    item = Item(**body.model_dump())
    session.add(item)
    try:
        await session.flush()
    except IntegrityError:
        raise _name_taken(body.name) from None
    await session.refresh(item)
    return ItemRead.model_validate(item)


@router.get("/{item_id}", responses=documented(404, 503))
async def read_item(item_id: ItemId, session: SessionDep, cache: CacheDep) -> ItemRead:
    cached = await cache.get(item_id)
    if isinstance(cached, ItemRead):
        return cached
    item = await session.get(Item, item_id)
    if item is None:
        raise _not_found(item_id)
    read = ItemRead.model_validate(item)
    await cache.put(item_id, read)
    return read


@router.patch("/{item_id}", responses=documented(400, 404, 409, 413, 503))
async def update_item(
    item_id: ItemId, body: ItemUpdate, session: SessionDep, cache: CacheDep
) -> ItemRead:
    item = await session.get(Item, item_id, with_for_update=True)
    if item is None:
        raise _not_found(item_id)
    changes = body.model_dump(exclude_unset=True)  # ItemUpdate refuses a null name or price
    for attribute, value in changes.items():
        setattr(item, attribute, value)
    try:
        await session.flush()
    except IntegrityError:
        raise _name_taken(changes.get("name")) from None
    await session.refresh(item)
    updated = ItemRead.model_validate(item)
    await _commit_then_invalidate(session, cache, item_id)
    return updated


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(404, 503))
async def delete_item(item_id: ItemId, session: SessionDep, cache: CacheDep) -> Response:
    item = await session.get(Item, item_id)
    if item is None:
        raise _not_found(item_id)
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
        items = [ItemRead.model_validate(item) for item in rows]
        has_more = len(items) > limit
        items = items[:limit]
        return ItemPage(items=items, next_after=items[-1].id if has_more else None)

    return list_router

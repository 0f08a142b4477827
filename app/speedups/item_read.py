"""``GET /items/{item_id}`` through the driver read, answering in front of the plain route.

Same path, parameters, cache and answers as ``app.routes.items.read_item``; only the database
read differs (``fetch_row`` instead of ``session.get``). The plain route stays the documented one
(this route is left out of the OpenAPI schema) and answers whatever this one does not match.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from sqlalchemy import bindparam, select
from starlette.routing import Match

from app.deps import EngineDep
from app.errors import database_error, not_found
from app.models import Item
from app.routes.items import ItemCacheDep, ItemId
from app.schemas import ItemRead
from app.speedups.driver_read import ConnectionLost, DriverQuery, fetch_row

PATH = "/items/{item_id}"

# Core, not the ORM: a row that is only read needs no identity map, unit of work or state.
ITEM_BY_ID = DriverQuery.compile(
    select(*Item.__table__.columns).where(Item.id == bindparam("item_id"))
)


async def read_item(item_id: ItemId, engine: EngineDep, cache: ItemCacheDep) -> ItemRead:
    cached = await cache.get(item_id)
    if isinstance(cached, ItemRead):
        return cached
    row = await fetch_row(engine, ITEM_BY_ID, {"item_id": item_id})
    if row is None:
        raise not_found("item", item_id)
    read = ItemRead.model_validate(dict(row))
    await cache.put(item_id, read)
    return read


def install_item_read(app: FastAPI) -> None:
    """Add the driver read as a route of the app, placed just before the plain one."""
    routes = app.router.routes
    # asked as the router asks each entry, so an included router holding the route is found too
    probe = {"type": "http", "method": "GET", "path": "/items/1", "root_path": "", "headers": []}
    plain = next(
        index for index, route in enumerate(routes) if route.matches(probe)[0] is Match.FULL
    )
    app.router.add_api_route(PATH, read_item, methods=["GET"], include_in_schema=False)
    routes.insert(plain, routes.pop())
    # the driver's errors, answered as app/errors.py answers SQLAlchemy's: PostgreSQL's own, and
    # a connection lost mid-statement (its other errors are bugs, answered with a traceback)
    app.add_exception_handler(asyncpg.PostgresError, database_error)
    app.add_exception_handler(ConnectionLost, database_error)

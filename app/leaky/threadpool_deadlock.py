"""threadpool-deadlock: a sync (``def``) read whose request needs two connections of one pool.

The anti-pattern: the item read written the sync way, as in many tutorials. A ``def`` dependency
(``get_session``) opens the request's session and runs its first query ("may this caller read?"),
which checks a connection out and leaves it idle in transaction until the response; the ``def``
endpoint then reads the item through the engine, which checks out a second connection. FastAPI
runs both on AnyIO's thread pool (40 threads), where a thread waiting for the pool is simply
blocked. With ``SYNC_POOL_SIZE`` concurrent reads each holds one connection and waits for another
that only a finished read can return: nobody finishes. Every read waits the pool timeout and
fails (503), and meanwhile the blocked threads pile up toward 40 (or to the admission limit's
requests per worker, where that is lower), stalling any other sync code.

Sized from the mechanism: the lock-up starts at pool + overflow concurrent reads. The twin's sync
engine keeps SQLAlchemy's default pool size (``SYNC_POOL_SIZE``, no overflow), below the ~13
shoppers of the lab's 20 users, so the lab's load locks it up; the fixed build, with one async
checkout per read, serves the same load. (With one connection per request the same lock-up needs
threads + pool concurrent requests instead: a sync session plus a token check held 15 connections
and 40 threads at 64 clients in a template measured here.)

Retained: nothing grows; connections are held (idle in transaction) and threads blocked until
the pool timeout (``db_pool_timeout_s``) turns the waits into 503s, then it locks up again.

Grows: requests in flight and ``/debug/stats`` ``threads`` (to AnyIO's 40, or to the admission
limit); throughput collapses
and p99 sits at the pool timeout; ``pg_stat_activity`` shows the twin's connections "idle in
transaction".

The fix: ``app/routes/items.py:read_item`` (``async def`` with async dependencies: one connection
per read, held only for its query, and no thread at all). Where sync code must stay, a thread
limiter no larger than the pool keeps the waits off the threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from anyio import from_thread
from fastapi import Depends, FastAPI, Request
from sqlalchemy import RowMapping, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import create_engine
from app.errors import not_found
from app.leaky.seams import Scenario, replace_route, retained
from app.models import Item
from app.routes.items import ItemCacheDep, ItemId
from app.schemas import ItemRead

ID = "threadpool-deadlock"
SYNC_POOL_SIZE = 5  # SQLAlchemy's default pool_size

_engine_lock = threading.Lock()


def sync_engine(request: Request) -> AsyncEngine:
    """The twin's engine for its sync path, made on first use (several threads may ask)."""
    engines = retained(request.app, ID)
    with _engine_lock:
        if not engines:
            resources = request.state.resources
            settings = resources.settings
            engines.append(
                create_engine(
                    resources.engine.url.render_as_string(hide_password=False),
                    app_name=settings.app_name,
                    pool_size=SYNC_POOL_SIZE,
                    max_overflow=0,
                    pool_timeout_s=settings.db_pool_timeout_s,
                    pool_recycle_s=settings.db_pool_recycle_s,
                    pool_pre_ping=settings.db_pool_pre_ping,
                    statement_timeout_ms=settings.db_statement_timeout_ms,
                )
            )
        engine: AsyncEngine = engines[0]
    return engine


def get_session(request: Request) -> Iterator[AsyncSession]:
    """``def``: runs on a worker thread, which blocks while it waits for the pool."""
    session = AsyncSession(sync_engine(request))
    try:
        from_thread.run(session.execute, text("SELECT 1"))  # the caller check: connection one
        yield session
    finally:
        from_thread.run(session.close)


SyncSessionDep = Annotated[AsyncSession, Depends(get_session)]


async def fetch_item(engine: AsyncEngine, item_id: int) -> RowMapping | None:
    async with engine.connect() as connection:
        result = await connection.execute(select(Item.__table__).where(Item.id == item_id))
        return result.mappings().first()


def read_item(
    item_id: ItemId, request: Request, session: SyncSessionDep, cache: ItemCacheDep
) -> ItemRead:
    cached = from_thread.run(cache.get, item_id)
    if isinstance(cached, ItemRead):
        return cached
    # connection two, while connection one is held idle in transaction by the dependency
    row = from_thread.run(fetch_item, sync_engine(request), item_id)
    if row is None:
        raise not_found("item", item_id)
    read = ItemRead.model_validate(dict(row))
    from_thread.run(cache.put, item_id, read)
    return read


def install(app: FastAPI) -> None:
    replace_route(app, "GET", "/items/{item_id}", read_item)


async def release(app: FastAPI) -> None:
    """For tests: dispose the sync path's engine and its connections."""
    engines = retained(app, ID)
    while engines:
        await engines.pop().dispose()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items/{id}",
    leaks=f"a sync read holding one connection while it waits for a second (pool {SYNC_POOL_SIZE})",
    signal="throughput to zero, p99 at the pool timeout, threads, idle in transaction",
    fix="app/routes/items.py:read_item",
    install=install,
    release=release,
)

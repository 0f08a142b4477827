"""The session dependency has one path: commit when the handler returns, roll back when it
raises or is cancelled, and the connection goes back to the pool every time. On the real
PostgreSQL, with SQLAlchemy's own pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import AsyncAdaptedQueuePool
from starlette.requests import Request

from app.db import create_engine, create_sessionmaker, get_session
from app.models import Item
from tests.database import truncate_tables


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        database_url, app_name="test-session", pool_size=1, max_overflow=0, pool_timeout_s=5,
        pool_recycle_s=-1, pool_pre_ping=False, statement_timeout_ms=0,
    )  # fmt: skip
    yield engine
    await engine.dispose()
    await truncate_tables(database_url)


def request_for(engine: AsyncEngine) -> Request:
    """A request as the lifespan's state makes it: the resources hold the sessionmaker."""
    resources = SimpleNamespace(sessionmaker=create_sessionmaker(engine))
    return Request({"type": "http", "state": {"resources": resources}})


async def items_named(engine: AsyncEngine, name: str) -> int:
    async with AsyncSession(engine) as session:
        count: int = await session.scalar(select(func.count()).where(Item.name == name)) or 0
    return count


def checked_out(engine: AsyncEngine) -> int:
    pool: Any = engine.pool
    count: int = pool.checkedout()
    return count


async def test_the_default_pool_is_sqlalchemy_s_own(engine: AsyncEngine) -> None:
    assert type(engine.pool) is AsyncAdaptedQueuePool


async def test_a_handler_that_returns_commits_and_closes(engine: AsyncEngine) -> None:
    dependency = get_session(request_for(engine))
    session = await anext(dependency)
    session.add(Item(name="kept", price=1))
    await session.flush()
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)  # the handler returned
    assert not session.in_transaction()
    assert checked_out(engine) == 0
    assert await items_named(engine, "kept") == 1


async def test_a_handler_that_raises_rolls_back_and_the_error_goes_on(engine: AsyncEngine) -> None:
    dependency = get_session(request_for(engine))
    session = await anext(dependency)
    session.add(Item(name="undone", price=1))
    await session.flush()
    with pytest.raises(RuntimeError, match="the handler failed"):
        await dependency.athrow(RuntimeError("the handler failed"))
    assert checked_out(engine) == 0
    assert await items_named(engine, "undone") == 0


async def test_a_cancelled_request_rolls_back_and_closes(engine: AsyncEngine) -> None:
    dependency = get_session(request_for(engine))
    session = await anext(dependency)
    session.add(Item(name="abandoned", price=1))
    await session.flush()
    await dependency.aclose()  # what FastAPI does when the request goes away mid-handler
    assert checked_out(engine) == 0
    assert await items_named(engine, "abandoned") == 0


async def test_a_commit_that_fails_raises_and_gives_the_connection_back(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as setup, setup.begin():
        setup.add(Item(name="taken", price=1))
    dependency = get_session(request_for(engine))
    session = await anext(dependency)
    session.add(Item(name="taken", price=2))  # not flushed: the commit is what fails
    with pytest.raises(IntegrityError):
        await anext(dependency)
    assert checked_out(engine) == 0
    assert await items_named(engine, "taken") == 1

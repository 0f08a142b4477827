"""The session dependency driven directly, where a request cannot reach: SQLAlchemy's own pool
by default, and a commit that fails still gives its connection back. Every path a request takes
is in test_session.py. On the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import AsyncAdaptedQueuePool
from starlette.requests import Request

from app.db import create_sessionmaker, get_session
from app.models import Item
from tests.support.database import checked_out, one_connection_engine, truncate_tables


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = one_connection_engine(database_url, app_name="test-session")
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


async def test_the_default_pool_is_sqlalchemy_s_own(engine: AsyncEngine) -> None:
    assert type(engine.pool) is AsyncAdaptedQueuePool


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

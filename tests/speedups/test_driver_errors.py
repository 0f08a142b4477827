"""A database error gets the same answer whichever path raised it: SQLAlchemy's (sessions) or
the driver's (the hot read). On the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from app.speedups.driver_read import DriverQuery, fetch_row
from tests.support.database import one_connection_engine
from tests.test_errors import answer

REQUEST = Request({"type": "http", "method": "GET", "path": "/items/1", "headers": []})

# (driver SQL, the same through SQLAlchemy, the status a client must get)
CASES = [
    ("SELECT 1/0", "SELECT 1/0", 500),  # class 22: the statement's own fault
    ("SELECT 'x'::int", "SELECT 'x'::int", 500),
    ("SELECT no_such_column FROM items", "SELECT no_such_column FROM items", 500),  # 42
    ("SELECT pg_sleep(1)", "SELECT pg_sleep(1)", 503),  # 57014: the statement timeout
]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = one_connection_engine(database_url, app_name="test-errors", statement_timeout_ms=200)
    yield engine
    await engine.dispose()


async def raised_by_driver(engine: AsyncEngine, sql: str) -> Exception:
    try:
        await fetch_row(engine, DriverQuery(sql, ()), {})
    except Exception as error:  # the error is what is under test
        return error
    raise AssertionError(f"{sql} did not fail")


async def raised_by_sqlalchemy(engine: AsyncEngine, sql: str) -> Exception:
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    except Exception as error:
        return error
    raise AssertionError(f"{sql} did not fail")


@pytest.mark.parametrize(("driver_sql", "sqlalchemy_sql", "status"), CASES)
async def test_both_paths_answer_a_database_error_alike(
    engine: AsyncEngine, driver_sql: str, sqlalchemy_sql: str, status: int
) -> None:
    by_driver = await answer(await raised_by_driver(engine, driver_sql))
    by_sqlalchemy = await answer(await raised_by_sqlalchemy(engine, sqlalchemy_sql))
    assert by_driver == by_sqlalchemy
    assert by_driver[0] == status

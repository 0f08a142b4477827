"""Errors a client can act on: a conflict in any table is a 409 naming the field. On the real
PostgreSQL, through SQLAlchemy as the routes raise them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from app.errors import database_error
from tests.support.database import one_connection_engine

REQUEST = Request({"type": "http", "method": "POST", "path": "/items", "headers": []})


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = one_connection_engine(database_url, app_name="test-errors", statement_timeout_ms=1000)
    yield engine
    await engine.dispose()


async def answer(error: Exception) -> tuple[int, str]:
    response = await database_error(REQUEST, error)
    detail: str = json.loads(bytes(response.body))["detail"]
    return response.status_code, detail


CONFLICTS = [
    ("INSERT INTO parents VALUES (2, 'a')", "name 'a' is taken; choose another"),
    ("INSERT INTO children VALUES (1, 9)", "parent_id 9 refers to no row of parents"),
    ("DELETE FROM parents", "id 1 is still referenced from children; remove those first"),
]


async def test_a_unique_or_foreign_key_violation_is_a_409_naming_the_field(
    engine: AsyncEngine,
) -> None:
    # any table, not only items: temporary ones, gone with the connection
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in (
            "CREATE TEMP TABLE parents (id int PRIMARY KEY, name text UNIQUE)",
            "CREATE TEMP TABLE children (id int, parent_id int REFERENCES parents)",
            "INSERT INTO parents VALUES (1, 'a')",
            "INSERT INTO children VALUES (1, 1)",
        ):
            await autocommit.execute(text(statement))
        answers = []
        for statement, _ in CONFLICTS:
            try:
                await autocommit.execute(text(statement))
            except Exception as error:  # the error is what is under test
                answers.append(await answer(error))
    assert answers == [(409, detail) for _, detail in CONFLICTS]

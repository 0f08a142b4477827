"""The test database: a real PostgreSQL, migrated once per session, emptied between tests.

LEAKPROOF_TEST_DATABASE_URL points the suite at a server of your own (CI also runs it over TCP
against the machine's PostgreSQL); unset, the embedded server is used with a database of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.dev import embedded_postgres, migrations
from app.models import Base

TEST_URL_ENV = "LEAKPROOF_TEST_DATABASE_URL"
# one database per suite run; set LEAKPROOF_TEST_DATABASE to run two suites side by side
TEST_DATABASE = os.environ.get("LEAKPROOF_TEST_DATABASE", "leakproof_test")
DATA_DIR = Path(__file__).resolve().parents[2] / ".leakproof"


def test_database_url() -> str:
    return os.environ.get(TEST_URL_ENV) or embedded_postgres.start(DATA_DIR, TEST_DATABASE)


def reset_schema(url: str) -> None:
    """Down to nothing and up to head: proves both directions of every migration each run."""
    migrations.downgrade(url, "base")
    migrations.upgrade(url, "head")


def asyncpg_dsn(url: str) -> str:
    """The same URL in the form asyncpg.connect takes (no driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own (asyncpg, outside any app's pool), closed on every path."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield connection
    finally:
        await connection.close()


def truncate_statement() -> str:
    """Every mapped table in one statement, so a table a resource adds is emptied too, and
    CASCADE lets foreign keys between them be."""
    tables = ", ".join(
        ".".join(f'"{part}"' for part in (table.schema, table.name) if part)
        for table in Base.metadata.sorted_tables
    )
    return f"TRUNCATE {tables} RESTART IDENTITY CASCADE"


async def truncate_tables(url: str) -> None:
    async with connected(url) as connection:
        await connection.execute(truncate_statement())


async def end_connections(url: str, application_name: str) -> int:
    """End the server side of every connection so named, as a database restart would; return
    how many there were."""
    async with connected(url) as connection:
        ended: int = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            application_name,
        )
    return ended

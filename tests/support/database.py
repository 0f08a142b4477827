"""The test database: a real PostgreSQL, migrated once per session, emptied between tests.

LEAKPROOF_TEST_DATABASE_URL points the suite at a server of your own (CI also runs it over TCP
against the machine's PostgreSQL); unset, the embedded server is used with a database of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool

from app.db import create_engine
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


def one_connection_engine(
    url: str,
    *,
    app_name: str = "test",
    pool_timeout_s: float = 5.0,
    statement_timeout_ms: int = 0,
    poolclass: type[Pool] = AsyncAdaptedQueuePool,
) -> AsyncEngine:
    """An engine whose pool holds one connection: a test sees at once whether it was given back."""
    return create_engine(
        url, app_name=app_name, pool_size=1, max_overflow=0, pool_timeout_s=pool_timeout_s,
        pool_recycle_s=-1, pool_pre_ping=False, statement_timeout_ms=statement_timeout_ms,
        poolclass=poolclass,
    )  # fmt: skip


def checked_out(engine: AsyncEngine) -> int:
    """Connections out of the engine's pool now."""
    pool: Any = engine.pool
    count: int = pool.checkedout()
    return count

"""The driver read holds no transaction and no connection after it returns, and never pools a
connection in an unknown state. On the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from asyncpg.transaction import Transaction
from sqlalchemy import Integer, bindparam, literal, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import application_name, create_engine
from app.models import Item
from app.speedups.driver_read import ConnectionLost, DriverQuery, fetch_row
from app.speedups.fair_pool import FirstComeFirstServedPool
from tests.support.database import checked_out, connected, end_connections, one_connection_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = one_connection_engine(database_url, poolclass=FirstComeFirstServedPool)
    yield engine
    await engine.dispose()


SELECT_PID = DriverQuery("SELECT pg_backend_pid()", ())


async def backend_pid(engine: AsyncEngine) -> int:
    """The server process behind the pool's connection: a new one means a new connection."""
    row = await fetch_row(engine, SELECT_PID, {})
    assert row is not None
    return int(row[0])


async def test_a_compiled_query_passes_its_arguments_in_the_statement_s_order(
    engine: AsyncEngine,
) -> None:
    query = DriverQuery.compile(
        select(bindparam("low", type_=Integer) - bindparam("high", type_=Integer))
    )
    assert query.parameter_names == ("low", "high")
    assert "$1" in query.sql
    assert "$2" in query.sql
    row = await fetch_row(engine, query, {"high": 2, "low": 1})
    assert row is not None
    assert row[0] == -1  # 1 - 2; swapped, it would be 2 - 1


async def test_a_compiled_query_keeps_the_values_the_statement_carries(
    engine: AsyncEngine,
) -> None:
    query = DriverQuery.compile(
        select(bindparam("id", type_=Integer) + 100).where(literal(1) == 1).limit(5)
    )
    assert query.parameter_names[0] == "id"
    row = await fetch_row(engine, query, {"id": 1})
    assert row is not None
    assert row[0] == 101
    with pytest.raises(KeyError, match="'id'"):
        query.arguments({})


def test_a_query_that_must_be_rendered_per_call_is_refused_at_compile_time() -> None:
    with pytest.raises(ValueError, match="ANY"):
        DriverQuery.compile(select(Item.id).where(Item.id.in_([1, 2])))


def test_the_item_read_is_compiled_from_the_model() -> None:
    from app.speedups.item_read import ITEM_BY_ID

    assert ITEM_BY_ID.parameter_names == ("item_id",)
    assert all(column.name in ITEM_BY_ID.sql for column in Item.__table__.columns)


async def test_fetch_row_sends_no_begin_and_returns_the_connection_reset(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend_pid(engine)  # first connect: the dialect's own queries
    begins: list[object] = []
    start = Transaction.start

    async def counting_start(self: Transaction) -> None:  # the driver's BEGIN
        begins.append(self)
        await start(self)

    monkeypatch.setattr(Transaction, "start", counting_start)
    await backend_pid(engine)
    assert begins == []
    assert checked_out(engine) == 0
    async with engine.connect() as connection:  # the same pooled connection, back to normal
        await connection.execute(text("SELECT 1"))
        await connection.rollback()
    assert len(begins) == 1


async def test_a_failed_statement_gives_its_connection_back_for_reuse(engine: AsyncEngine) -> None:
    before = await backend_pid(engine)
    with pytest.raises(asyncpg.UndefinedColumnError):
        await fetch_row(engine, DriverQuery("SELECT no_such_column FROM items", ()), {})
    assert checked_out(engine) == 0
    assert await backend_pid(engine) == before  # PostgreSQL answered: the connection is sound


async def test_a_misused_driver_is_a_bug_not_a_lost_connection(engine: AsyncEngine) -> None:
    with pytest.raises(asyncpg.InterfaceError, match="expects 1 argument"):
        await fetch_row(engine, DriverQuery("SELECT $1::int", ()), {})
    assert checked_out(engine) == 0
    assert await backend_pid(engine) > 0


async def test_a_connection_the_server_ended_is_replaced_not_pooled_again(
    engine: AsyncEngine, database_url: str
) -> None:
    ended = await backend_pid(engine)
    assert await end_connections(database_url, application_name("test")) == 1
    # the driver says "connection is closed", or shows a protocol state error when the end
    # arrives mid-statement: either way the cause of a ConnectionLost
    with pytest.raises(ConnectionLost):
        await backend_pid(engine)
    assert checked_out(engine) == 0
    assert await backend_pid(engine) != ended  # the pool opened a new one


async def test_one_lost_connection_retires_the_others_the_server_ended_with_it(
    database_url: str,
) -> None:
    engine = create_engine(
        database_url, app_name="test-lost", pool_size=3, max_overflow=0, pool_timeout_s=5,
        pool_recycle_s=-1, pool_pre_ping=False, statement_timeout_ms=0,
    )  # fmt: skip
    try:
        # three connections in the pool, all opened before the "restart"
        sleep = DriverQuery("SELECT pg_sleep(0.05)", ())
        await asyncio.gather(*(fetch_row(engine, sleep, {}) for _ in range(3)))
        assert await end_connections(database_url, application_name("test-lost")) == 3
        with pytest.raises(ConnectionLost):
            await backend_pid(engine)
        # the two other dead connections are never handed out again
        for _ in range(4):
            assert await backend_pid(engine) > 0
        assert checked_out(engine) == 0
    finally:
        await engine.dispose()


async def test_a_connection_that_cannot_be_made_raises_sqlalchemy_s_error(
    database_url: str,
) -> None:
    # as engine.connect() raises it, so app/errors.py answers it the same way
    missing = make_url(database_url).set(database="leakproof_no_such_database")
    engine = one_connection_engine(
        missing.render_as_string(hide_password=False), poolclass=FirstComeFirstServedPool
    )
    try:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await backend_pid(engine)
        assert isinstance(raised.value.orig, engine.dialect.loaded_dbapi.Error)
        assert checked_out(engine) == 0
    finally:
        await engine.dispose()


async def test_an_interrupted_statement_does_not_put_its_connection_back(
    engine: AsyncEngine,
) -> None:
    interrupted = await backend_pid(engine)
    sleeper = asyncio.create_task(fetch_row(engine, DriverQuery("SELECT pg_sleep(10)", ()), {}))
    await asyncio.sleep(0.2)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert checked_out(engine) == 0
    assert await backend_pid(engine) != interrupted


async def test_a_second_cancellation_does_not_leave_the_statement_running_in_the_server(
    engine: AsyncEngine, database_url: str
) -> None:
    await backend_pid(engine)
    sleeper = asyncio.create_task(fetch_row(engine, DriverQuery("SELECT pg_sleep(20)", ()), {}))
    await asyncio.sleep(0.2)
    sleeper.cancel()
    await asyncio.sleep(0)  # the first cancellation reaches the read, which starts invalidating
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert checked_out(engine) == 0
    async with connected(database_url) as admin:
        for _ in range(20):  # the server takes a moment to act on the cancel request
            still_sleeping = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'",
                application_name("test"),
            )
            if not still_sleeping:
                break
            await asyncio.sleep(0.1)
    assert still_sleeping == 0  # without the cancel request it would sleep its 20 s

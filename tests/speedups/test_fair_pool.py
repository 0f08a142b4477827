"""The speed-ups' pool serves waiters first come, first served, loses nothing to a waiter that
times out or is cancelled, and keeps a burst's overflow connections while bursts recur. On the
real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from app.speedups import fair_pool
from app.speedups.fair_pool import FirstComeFirstServedPool
from tests.support.database import checked_out, one_connection_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = one_connection_engine(database_url, poolclass=FirstComeFirstServedPool)
    yield engine
    await engine.dispose()


async def queue_up(
    engine: AsyncEngine, count: int, served: list[int], hold_s: float = 0.0
) -> list[asyncio.Task[None]]:
    """``count`` requests that each take the connection in turn; they record their number."""

    async def request(number: int) -> None:
        async with engine.connect() as connection:
            served.append(number)
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(hold_s)

    tasks = []
    for number in range(count):
        tasks.append(asyncio.create_task(request(number)))
        await asyncio.sleep(0)  # each one reaches the pool's queue before the next starts
    return tasks


async def test_waiters_get_the_connection_in_arrival_order(engine: AsyncEngine) -> None:
    served: list[int] = []
    async with engine.connect() as holder:
        await holder.execute(text("SELECT 1"))
        tasks = await queue_up(engine, 8, served)
        await asyncio.sleep(0.05)
        assert served == []  # all of them wait for the one connection
    await asyncio.gather(*tasks)
    assert served == list(range(8))
    assert checked_out(engine) == 0


async def served_after_a_release(engine: AsyncEngine) -> list[str]:
    """Three requests wait for the only connection; it is released, and a newcomer asks for
    one in the same breath, before the woken waiter has run."""
    served: list[str] = []
    holder = await engine.connect()
    await holder.execute(text("SELECT 1"))
    numbers: list[int] = []
    waiters = await queue_up(engine, 3, numbers)
    await asyncio.sleep(0.02)
    await holder.close()
    async with engine.connect():
        served.extend(str(number) for number in numbers)
        served.append("newcomer")
    await asyncio.gather(*waiters)
    served.extend(str(number) for number in numbers[len(served) - 1 :])
    return served


async def test_a_newcomer_does_not_take_a_returned_connection_from_a_waiter(
    engine: AsyncEngine,
) -> None:
    assert await served_after_a_release(engine) == ["0", "1", "2", "newcomer"]


async def test_the_stock_pool_lets_a_newcomer_jump_the_queue(database_url: str) -> None:
    """Why the pool class exists: SQLAlchemy's own asyncio queue lets a newcomer take the
    connection that was released for the first waiter."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.db import async_url

    stock = create_async_engine(
        async_url(database_url), pool_size=1, max_overflow=0, poolclass=AsyncAdaptedQueuePool
    )
    try:
        assert (await served_after_a_release(stock))[0] == "newcomer"
    finally:
        await stock.dispose()


async def test_a_waiter_that_times_out_gets_the_pool_timeout_and_nothing_is_lost(
    database_url: str,
) -> None:
    engine = one_connection_engine(
        database_url, pool_timeout_s=0.1, poolclass=FirstComeFirstServedPool
    )
    try:
        holder = await engine.connect()
        with pytest.raises(sa_exc.TimeoutError):
            await engine.connect()
        await holder.close()
        assert await backend_pid(engine) > 0
        assert checked_out(engine) == 0
    finally:
        await engine.dispose()


async def test_a_cancelled_waiter_passes_its_connection_on(engine: AsyncEngine) -> None:
    served: list[int] = []
    holder = await engine.connect()
    await holder.execute(text("SELECT 1"))
    waiters = await queue_up(engine, 3, served)
    await asyncio.sleep(0.02)
    await holder.close()  # handed to waiter 0, which is cancelled before it runs
    waiters[0].cancel()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert served == [1, 2]
    assert checked_out(engine) == 0


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


def overflow_engine(database_url: str) -> AsyncEngine:
    """One pooled connection and one overflow connection, on the speed-ups' pool."""
    from app.db import create_engine

    return create_engine(
        database_url, app_name="test-overflow", pool_size=1, max_overflow=1, pool_timeout_s=5.0,
        pool_recycle_s=-1, pool_pre_ping=False, statement_timeout_ms=0,
        poolclass=FirstComeFirstServedPool,
    )  # fmt: skip


def count_connects(engine: AsyncEngine) -> list[int]:
    """A list that grows by one each time the pool opens a connection to PostgreSQL."""
    opened: list[int] = []
    event.listen(engine.sync_engine.pool, "connect", lambda *_: opened.append(1))
    return opened


async def both_connections_in_use(engine: AsyncEngine) -> set[int]:
    """Check out the pooled and the overflow connection at once; their backend pids."""
    first, second = await engine.connect(), await engine.connect()
    try:
        return {await pid_of(first), await pid_of(second)}
    finally:
        await first.close()
        await second.close()


async def pid_of(connection: AsyncConnection) -> int:
    pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def test_an_overflow_connection_stays_open_while_bursts_recur(database_url: str) -> None:
    """The stock pool closes the overflow connection as it comes back to a full pool; the next
    burst opens a new one. Here the next burst, within the linger, gets the same two."""
    engine = overflow_engine(database_url)
    try:
        opened = count_connects(engine)
        first_burst = await both_connections_in_use(engine)
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]
        for _ in range(5):
            assert await both_connections_in_use(engine) == first_burst
        assert len(opened) == 2
        assert checked_out(engine) == 0
    finally:
        await engine.dispose()


async def test_the_stock_pool_reopens_the_overflow_connection_each_burst(
    database_url: str,
) -> None:
    """Why the spares exist: SQLAlchemy's own pool pays a new connection for every burst."""
    from app.db import create_engine

    stock = create_engine(
        database_url, app_name="test-overflow", pool_size=1, max_overflow=1, pool_timeout_s=5.0,
        pool_recycle_s=-1, pool_pre_ping=False, statement_timeout_ms=0,
        poolclass=AsyncAdaptedQueuePool,
    )  # fmt: skip
    try:
        opened = count_connects(stock)
        for _ in range(3):
            await both_connections_in_use(stock)
        assert len(opened) == 4  # the pooled one, then a new overflow one for each burst
    finally:
        await stock.dispose()


async def test_a_spare_is_closed_once_the_bursts_stopped(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fair_pool, "OVERFLOW_LINGER_S", 0.2)
    engine = overflow_engine(database_url)
    try:
        opened = count_connects(engine)
        await both_connections_in_use(engine)
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        # one request at a time: the pool never runs short, so the spare that comes back closes
        for _ in range(2):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        assert len(opened) == 2
        assert checked_out(engine) == 0
        # and the overflow is free again: a burst may open it anew
        await both_connections_in_use(engine)
        assert len(opened) == 3
    finally:
        await engine.dispose()

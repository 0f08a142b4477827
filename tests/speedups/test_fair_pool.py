"""The speed-ups' pool serves waiters first come, first served, and loses nothing to a waiter
that times out or is cancelled. On the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

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

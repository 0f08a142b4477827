"""The engine factory, the yield-scoped session dependency and the read-only fast path.

One engine per worker process, made by the lifespan and disposed on shutdown. A request gets its
session from ``get_session``: one commit-or-rollback path, closed on every path. A read of one
row needs neither a session nor a transaction: ``fetch_row`` borrows a connection from the same
pool for one statement, sent by the driver itself. The pool hands connections out first come,
first served (``FirstComeFirstServedPool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_, greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


def async_url(url: str) -> str:
    """Accept the usual postgresql:// spellings and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def application_name(build: str, pid: int | str | None = None) -> str:
    """Name this process's connections so pg_stat_activity can attribute them (``pid="%"``
    gives the LIKE pattern for every process of the build)."""
    return f"leakproof-{build}:{os.getpid() if pid is None else pid}"


class FirstComeFirstServedQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's idle connections, handed to waiting requests strictly in arrival order.

    SQLAlchemy's asyncio queue lets a newly arriving request take a just-returned connection
    before the request that was woken for it runs ("barging"), and the loser queues again at the
    back. At saturation a few requests lose lap after lap: throughput is unchanged but p99 grew
    to ~10x p50 in our measurements. Here a returned connection goes straight to the oldest
    waiter, and nobody takes an idle one while others wait.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[ConnectionPoolEntry]] = deque()

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def put(
        self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None
    ) -> None:
        self.put_nowait(item)  # never full while someone waits, so never a reason to block

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not self._waiters or not block:
            try:
                return self.get_nowait()
            except Empty:
                if not block:
                    raise
        return await_(self._wait(timeout))

    async def _wait(self, patience_s: float | None) -> ConnectionPoolEntry:
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)  # a waiter that gives up stays; put_nowait skips it
        try:
            async with asyncio.timeout(patience_s):
                return await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # handed over as the time ran out: use it
            raise Empty() from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # cancelled after the handover: pass it on
            raise


class FirstComeFirstServedPool(AsyncAdaptedQueuePool):
    _queue_class = FirstComeFirstServedQueue


# SQLAlchemy names a pool's logger after its class's module, which puts this one under "app"
# and its level: at debug it would log every checkout on the hot path. Pool events are
# SQLAlchemy's, so they keep SQLAlchemy's quiet default.
logging.getLogger(f"{__name__}.{FirstComeFirstServedPool.__name__}").setLevel(logging.WARNING)


def create_engine(
    url: str,
    *,
    build: str,
    pool_size: int,
    max_overflow: int,
    pool_timeout_s: float,
    pool_recycle_s: int,
    pool_pre_ping: bool,
    statement_timeout_ms: int,
) -> AsyncEngine:
    server_settings = {"application_name": application_name(build)}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_recycle=pool_recycle_s,
        pool_pre_ping=pool_pre_ping,
        poolclass=FirstComeFirstServedPool,
        connect_args={"server_settings": server_settings},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: a committed object can still be serialised without a lazy load,
    # which under asyncio would be an error rather than a hidden query.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit when the handler returns, roll back when it raises, always close."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.resources.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the teardown (commit, close, connection back to the pool) runs when the
# handler returns, before the response is sent. With the default request scope it runs after the
# response: a client could see 2xx for a commit that then fails, and each connection stays out of
# the pool while the response is written (p99 ~10x p50 at saturation in our measurements).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_engine(request: Request) -> AsyncEngine:
    # async, not def: FastAPI runs a plain-def dependency in its worker thread pool, and that
    # round trip cost more than the whole database read here
    engine: AsyncEngine = request.state.resources.engine
    return engine


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


ASYNCPG_DIALECT: Dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class ConnectionLost(Exception):
    """The database connection went away during a statement: the server ended it, restarted or
    became unreachable. The driver's own error is the cause. A client should retry; any other
    driver error (a misuse such as a wrong number of arguments) is a bug and stays itself."""


@dataclass(frozen=True)
class DriverQuery:
    """A Core statement compiled once, at import, into the SQL that asyncpg takes ($1, $2 ...).

    The statement stays written against the models (a renamed column fails at import, not in
    production); only the per-request compilation and result processing are skipped. Values go
    to asyncpg as they are, and rows come back as asyncpg decodes them: a column type's own
    Python-side processing (a TypeDecorator) does not run, so keep such columns on the session.
    """

    sql: str
    parameter_names: tuple[str, ...]
    # values the statement itself carries (a literal in a WHERE, a LIMIT), by parameter name
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def compile(cls, statement: ClauseElement) -> DriverQuery:
        compiled = statement.compile(dialect=ASYNCPG_DIALECT)
        assert isinstance(compiled, SQLCompiler)  # a statement, never DDL
        if compiled.post_compile_params or compiled.literal_execute_params:
            # an IN list is rendered per call from its length; a query compiled once cannot
            raise ValueError(
                "an expanding (IN) or literal_execute parameter cannot be compiled once; "
                "compare with = ANY(...) and pass a list instead"
            )
        values = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and name in (compiled.positiontup or ())
        }
        return cls(str(compiled), tuple(compiled.positiontup or ()), values)

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        merged = {**self.values, **params}
        missing = [name for name in self.parameter_names if name not in merged]
        if missing:
            raise KeyError(f"no value for the query's parameters {missing}")
        return tuple(merged[name] for name in self.parameter_names)


async def _to_the_end(cleanup: Callable[..., None], *args: Any) -> None:
    """Run a pool cleanup to its end, even when the request is cancelled again meanwhile.

    Invalidating an interrupted connection first lets asyncpg deliver the cancel request it owes
    PostgreSQL; cut short by a second cancellation, the statement would run on in the server,
    for nobody, until statement_timeout. The outer cancellation is still raised by the caller.
    The wait is bounded: SQLAlchemy gives the connection's graceful close 2 s, then terminates it.
    """
    task = asyncio.ensure_future(greenlet_spawn(cleanup, *args))
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()


async def fetch_row(
    engine: AsyncEngine, query: DriverQuery, params: Mapping[str, Any]
) -> asyncpg.Record | None:
    """Run one read-only statement with the driver, on a connection of the engine's own pool.

    The hot read path. SQLAlchemy's execution layer (a greenlet switch per step, the execution
    context, result processing) cost about a third of the CPU of a primary-key read; here the
    pool still hands out, counts and recycles the connection, and asyncpg runs the statement.
    No transaction: asyncpg sends no BEGIN outside one, and the pool's reset finds none to roll
    back. Errors stay the driver's, but for a lost connection (``ConnectionLost``); app/errors.py
    answers them as it answers SQLAlchemy's. A connection goes back to the pool only in a state
    the driver knows: when PostgreSQL answered, even with an error. One whose statement did not
    finish (a cancelled request, a driver error) is invalidated; a lost one invalidates the
    pool's older connections too, as SQLAlchemy does for a disconnect.
    """
    arguments = query.arguments(params)  # a missing value fails here, before a checkout
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        pooled = await engine.raw_connection()
    except dbapi_error as error:
        # a new connection that could not be made (the server is starting or shutting down):
        # wrapped as engine.connect() wraps it, so the client gets the same 503
        raise sa_exc.DBAPIError.instance(None, None, error, dbapi_error) from error
    try:
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            return await driver.fetchrow(query.sql, *arguments)
        except BaseException as error:
            if driver.is_closed() or isinstance(error, asyncpg.PostgresConnectionError):
                # Lost. As SQLAlchemy does on a disconnect, every connection opened before now
                # is retired at its next checkout (a restarted server ended them all), so the
                # restart costs one failed request, not one per pooled connection. (Pool._invalidate
                # is the call SQLAlchemy's Connection makes there; no public one does the same.)
                await _to_the_end(engine.pool._invalidate, pooled, error)
                if isinstance(error, Exception):
                    raise ConnectionLost(type(error).__name__) from error
            elif not isinstance(error, asyncpg.PostgresError):
                await _to_the_end(pooled.invalidate, error)  # interrupted mid-statement
            raise
    finally:
        await greenlet_spawn(pooled.close)

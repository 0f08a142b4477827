"""The driver read: one read-only statement sent by asyncpg on a connection of the engine's pool.

SQLAlchemy's execution layer (a greenlet switch per step, the execution context, result
processing) is most of the CPU of a primary-key read; here the pool still hands out, counts and
recycles the connection, and asyncpg runs a statement compiled once from the Core ``select``.
Rows come back as asyncpg records: a column type's own processing (a TypeDecorator) does not
run. The plain path (``session.get``) is in app/routes/items.py; this one answers in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from app.speedups._sqlalchemy import greenlet_spawn, invalidate_all_before

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

    No transaction: asyncpg sends no BEGIN outside one, and the pool's reset finds none to roll
    back. Errors stay the driver's, but for a lost connection (``ConnectionLost``); the handlers
    ``app.speedups`` installs answer them as app/errors.py answers SQLAlchemy's. A connection
    goes back to the pool only in a state the driver knows: when PostgreSQL answered, even with
    an error. One whose statement did not finish (a cancelled request, a driver error) is
    invalidated; a lost one invalidates the pool's older connections too, as SQLAlchemy does
    for a disconnect.
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
                # restart costs one failed request, not one per pooled connection.
                await _to_the_end(invalidate_all_before, engine.pool, pooled, error)
                if isinstance(error, Exception):
                    raise ConnectionLost(type(error).__name__) from error
            elif not isinstance(error, asyncpg.PostgresError):
                await _to_the_end(pooled.invalidate, error)  # interrupted mid-statement
            raise
    finally:
        await greenlet_spawn(pooled.close)

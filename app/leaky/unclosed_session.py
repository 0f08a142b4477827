"""unclosed-session: a session made in a plain dependency and never closed.

The anti-pattern: ``get_session`` *returns* ``sessionmaker()`` instead of yielding it from a
``with`` block. A plain (non-yield) dependency has no teardown, so nothing commits, rolls back or
closes the session. Its first query checks a connection out of the pool and opens a transaction
that is never ended.

Retained: every request's ``AsyncSession`` with its pooled connection, "idle in transaction" on
the server. This twin keeps each one in ``retained(app, ID)``, standing for whatever outlives the
request with a reference to it in real code (an ORM object stashed on a long-lived object, a
closure, a traceback kept by an error reporter). Without such a reference CPython frees the
session only when the cyclic garbage collector runs (the session and its transaction refer to
each other), and SQLAlchemy then drops the connection with the warning "The garbage collector is
trying to clean up non-checked-in connection": the pool drains and refills at random.

Grows: ``/debug/stats`` ``pool.checked_out`` and ``pg_stat_activity.process``, one connection per
request, until the pool (``db_pool_size`` + ``db_max_overflow``) is empty; then every request
waits ``db_pool_timeout_s`` and gets 503 "all database connections are busy" (and so does
``/debug/stats``, which needs a connection: read ``leakproof_db_pool_checked_out`` in /metrics).
Writes are lost too: nothing commits them.

The fix: ``app/db.py:get_session`` (``async with sessionmaker() as session``, one commit-or-
rollback path, closed on every path).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import db
from app.leaky.seams import Scenario, override_dependency, retained

ID = "unclosed-session"


async def get_session(request: Request) -> AsyncSession:
    """Same signature as the fix, no ``yield``: the session outlives the request, open."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.resources.sessionmaker
    session = sessionmaker()
    retained(request.app, ID).append(session)
    return session


def install(app: FastAPI) -> None:
    override_dependency(app, db.get_session, get_session)


async def release(app: FastAPI) -> None:
    """For tests: roll back and close every kept session, so the pool is whole again."""
    sessions = retained(app, ID)
    while sessions:
        session: AsyncSession = sessions.pop()
        await session.close()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items (every route with a session)",
    leaks="an AsyncSession and its pooled connection per request, idle in transaction",
    signal="pool.checked_out, pg_stat_activity rows; then 503 pool timeouts",
    fix="app/db.py:get_session",
    install=install,
    release=release,
)

"""engine-per-request: ``create_async_engine()`` inside a handler, never disposed.

The anti-pattern: the readiness probe builds its own engine "so it does not depend on the pool",
connects, runs ``SELECT 1`` and returns. An engine is a pool: the connection goes back into that
engine's pool and stays open, and nothing calls ``engine.dispose()``. Every call adds an engine
(dialect, pool, event dispatch, compiled cache) and a PostgreSQL backend process.

Retained: every engine, in ``retained(app, ID)``, standing for the references that keep engines
alive in real code (a module-level registry, a sessionmaker stored somewhere, event listeners).
Without them the collector reclaims an engine at some later point and asyncpg warns "unclosed
connection" as it drops the socket.

Bounded on purpose: each engine's pool holds one connection (``pool_size=1``, no overflow) and,
once ``OPEN_CONNECTIONS_MAX`` engines hold one, the next engines hand theirs back to PostgreSQL
right after use (``engine.dispose()``, which leaves the engine with an empty pool; the
engine object itself is still kept). Unbounded, a few
dozen probes would take every one of PostgreSQL's ``max_connections`` (100 by default) and stop
the database for every other client of the server, the tests and the fixed build included. The
memory keeps growing with every request; the connections grow to the bound.

Grows: ``/debug/stats`` ``pg_stat_activity.process`` (one per request up to the bound; the
pool's ``checked_out`` does not move: these connections are in other pools), ``fds``,
``gc_objects`` and ``rss_mb`` (an engine per request); ``/debug/growth`` lists ``AsyncEngine``.

The fix: ``app/lifespan.py:lifespan`` (one engine per worker, made at startup, disposed at
shutdown) used by ``app/routes/health.py:ready``.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.deps import EngineDep, SettingsDep
from app.leaky.seams import Scenario, replace_route, retained
from app.routes.health import READY_TIMEOUT_S

ID = "engine-per-request"
OPEN_CONNECTIONS_MAX = 20


async def ready(request: Request, settings: SettingsDep, app_engine: EngineDep) -> JSONResponse:
    engine = create_engine(
        app_engine.url.render_as_string(hide_password=False),
        app_name=settings.app_name,
        pool_size=1,
        max_overflow=0,
        pool_timeout_s=settings.db_pool_timeout_s,
        pool_recycle_s=settings.db_pool_recycle_s,
        pool_pre_ping=settings.db_pool_pre_ping,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    engines = retained(request.app, ID)
    engines.append(engine)
    keeps_connection = len(engines) <= OPEN_CONNECTIONS_MAX  # the bound that protects the server
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database unavailable: {type(error).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    finally:
        if not keeps_connection:
            await engine.dispose()  # the engine object is still kept, with a fresh empty pool
    return JSONResponse({"status": "ok"})


def install(app: FastAPI) -> None:
    replace_route(app, "GET", "/health/ready", ready)


async def release(app: FastAPI) -> None:
    """For tests: dispose every kept engine, closing the connections their pools hold."""
    engines = retained(app, ID)
    while engines:
        engine: AsyncEngine = engines.pop()
        await engine.dispose()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /health/ready",
    leaks="an AsyncEngine per request, never disposed, each with a pooled connection",
    signal=f"pg_stat_activity rows (bounded at {OPEN_CONNECTIONS_MAX}), fds, gc_objects, rss_mb",
    fix="app/lifespan.py:lifespan",
    install=install,
    release=release,
)

"""The engine factory and the yield-scoped session dependency.

One engine per worker process, made by the lifespan and disposed on shutdown. A request gets its
session from ``get_session``: one commit-or-rollback path, closed on every path.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator

from fastapi import Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool


def async_url(url: str) -> str:
    """Accept the usual postgresql:// spellings and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def application_name(app_name: str, pid: int | str | None = None) -> str:
    """Name this process's connections so pg_stat_activity can attribute them (``pid="%"``
    gives the LIKE pattern for every process of the service)."""
    return f"{app_name}:{os.getpid() if pid is None else pid}"


def create_engine(
    url: str,
    *,
    app_name: str,
    pool_size: int,
    max_overflow: int,
    pool_timeout_s: float,
    pool_recycle_s: int,
    pool_pre_ping: bool,
    statement_timeout_ms: int,
    poolclass: type[Pool] = AsyncAdaptedQueuePool,
) -> AsyncEngine:
    server_settings = {"application_name": application_name(app_name)}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_recycle=pool_recycle_s,
        pool_pre_ping=pool_pre_ping,
        poolclass=poolclass,
        connect_args={"server_settings": server_settings},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: a committed object can still be serialised without a lazy load,
    # which under asyncio would be an error rather than a hidden query.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncGenerator[AsyncSession, None]:
    """Yield a session; commit when the handler returns, roll back when it raises, always close."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.resources.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise

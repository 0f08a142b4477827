"""The lifespan owns every resource: engine, sessionmaker, cache, task registry, export slots.

Born at startup, closed at shutdown in reverse order (cancel tasks, then dispose the engine).
Handlers reach them through ``request.state.resources`` via the dependencies in db, cache and
tasks; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import embedded_postgres
from app.cache import BoundedCache
from app.db import create_engine, create_sessionmaker
from app.limits import Slots
from app.metrics import Metrics
from app.settings import Settings
from app.tasks import TaskRegistry

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "leakproof"


@dataclass
class Resources:
    settings: Settings
    build: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    cache: BoundedCache[object]
    registry: TaskRegistry
    export_slots: Slots
    metrics: Metrics
    # the previous /debug/growth snapshot, so each call reports what changed since the last
    growth_baseline: dict[str, object] = field(default_factory=dict)


class State(TypedDict):
    resources: Resources


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started or joined) when none is set."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_postgres.start(settings.data_dir, EMBEDDED_DATABASE)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    settings: Settings = app.state.settings
    build: str = app.state.build
    if settings.tracemalloc_frames and not tracemalloc.is_tracing():
        tracemalloc.start(settings.tracemalloc_frames)
    url = await asyncio.to_thread(database_url, settings)
    engine = create_engine(
        url,
        build=build,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout_s=settings.db_pool_timeout_s,
        pool_recycle_s=settings.db_pool_recycle_s,
        pool_pre_ping=settings.db_pool_pre_ping,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    registry = TaskRegistry(
        max_running=settings.tasks_max_running,
        max_kept=settings.tasks_max_kept,
        shutdown_timeout_s=settings.tasks_shutdown_timeout_s,
    )
    resources = Resources(
        settings=settings,
        build=build,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        cache=BoundedCache(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s),
        registry=registry,
        export_slots=Slots(settings.export_max_running),
        metrics=Metrics(),
    )
    try:
        yield {"resources": resources}
    finally:
        await registry.shutdown()
        await engine.dispose()
        logger.info("resources closed: jobs cancelled, engine disposed")


def get_resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]

"""The lifespan owns every resource: engine, sessionmaker, cache, task registry, export slots,
the webhook client.

Born at startup, closed at shutdown in reverse order (cancel tasks, dispose the engine, close
the Redis client when the cache is shared).
Handlers reach them through the dependencies of app/deps.py; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.cache import Caches, bounded_caches
from app.db import application_name, create_engine, create_sessionmaker
from app.limits import Slots
from app.ops.metrics import Metrics, RequestMetrics, refresh_periodically
from app.settings import ENV_PREFIX, Settings, SettingsError
from app.tasks import TaskRegistry
from app.webhooks import create_client

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    cache: Caches  # one per resource: cache.of("items", ItemRead)
    registry: TaskRegistry
    export_slots: Slots
    metrics: Metrics
    request_metrics: RequestMetrics
    webhook_client: httpx.AsyncClient | None  # None: no webhook configured


class State(TypedDict):
    resources: Resources


async def create_cache(settings: Settings, stack: contextlib.AsyncExitStack) -> Caches:
    """One cache per resource, in-process per worker, or shared in Redis when cache_url is set;
    a Redis client is closed by ``stack``, registered the moment it exists."""
    if settings.cache_url is None:
        return bounded_caches(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s)
    # Imported here, not at the top: importing redis costs every worker 5.8 MB of memory, and
    # the default cache is the in-process one.
    from app.redis_cache import create_client, is_reachable, redis_caches

    client = create_client(
        settings.cache_url.get_secret_value(),
        max_connections=settings.cache_redis_pool_size,
        timeout_s=settings.cache_redis_timeout_s,
        # CLIENT LIST names the worker, as pg_stat_activity does
        name=application_name(settings.app_name),
    )
    stack.push_async_callback(client.aclose)
    if not await is_reachable(client):
        # a cache outage must not stop the service: it starts, and reads go to the database
        logger.warning("Redis at LEAKPROOF_CACHE_URL does not answer; the caches miss")
    return redis_caches(
        client,
        # per app name: two services (or the twin) may share one Redis without sharing items
        prefix=f"{settings.cache_key_prefix}:{settings.app_name}",
        max_entries=settings.cache_max_entries,
        ttl_s=settings.cache_ttl_s,
    )


async def update_metrics(
    metrics: Metrics, engine: AsyncEngine, registry: TaskRegistry, cache: Caches
) -> None:
    """This worker's gauges, from the pool, the registry and the cache."""
    pool = engine.pool
    metrics.update(
        jobs=registry.stats().running,
        pool_checked_out=pool.checkedout(),  # type: ignore[attr-defined]
        cache_entries=(await cache.stats()).size,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    """Create every resource, and register its closing the moment it exists: a failure at any
    later step of start-up then closes what was already made, and shutdown closes everything
    in reverse order (the refresher, the jobs, the cache client, then the engine)."""
    settings: Settings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        if settings.tracemalloc_frames and not tracemalloc.is_tracing():
            tracemalloc.start(settings.tracemalloc_frames)
            stack.callback(tracemalloc.stop)
        if settings.database_url is None:
            # resolving one (starting the embedded server) is the job of what starts the service
            raise SettingsError(
                f"no database URL: set {ENV_PREFIX}DATABASE_URL, or start the service with "
                "`leakproof serve`, which starts an embedded PostgreSQL and passes its URL on"
            )
        url = settings.database_url.get_secret_value()
        engine = create_engine(
            url,
            app_name=settings.app_name,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout_s=settings.db_pool_timeout_s,
            pool_recycle_s=settings.db_pool_recycle_s,
            pool_pre_ping=settings.db_pool_pre_ping,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            poolclass=app.state.poolclass,
        )
        stack.push_async_callback(engine.dispose)
        cache = await create_cache(settings, stack)
        registry = TaskRegistry(
            max_running=settings.tasks_max_running,
            max_kept=settings.tasks_max_kept,
            shutdown_timeout_s=settings.tasks_shutdown_timeout_s,
        )
        stack.push_async_callback(registry.shutdown)
        metrics = Metrics()
        webhook_client = None
        if settings.webhook_url is not None:
            webhook_client = create_client(
                timeout_s=settings.webhook_timeout_s,
                max_connections=settings.webhook_max_connections,
            )
            stack.push_async_callback(webhook_client.aclose)
        resources = Resources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            cache=cache,
            registry=registry,
            export_slots=Slots(settings.export_max_running),
            metrics=metrics,
            request_metrics=RequestMetrics(metrics),
            webhook_client=webhook_client,
        )
        if settings.metrics_refresh_s:
            refresher = asyncio.create_task(
                refresh_periodically(
                    lambda: update_metrics(metrics, engine, registry, cache),
                    settings.metrics_refresh_s,
                ),
                name="metrics-refresh",
            )
            stack.push_async_callback(_cancel_and_wait, refresher)
        yield {"resources": resources}
    logger.info("resources closed: jobs cancelled, engine disposed, cache client closed")


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

"""Every dependency a route can ask for, one ``Annotated`` alias per resource, on one page.

Each hands out what the lifespan made (``request.state.resources``) and creates nothing. A
resource's own cache is asked for beside its routes, with ``app.cache.cache_of`` (as
``app/routes/items.py`` does), so adding a resource does not touch this page. All are
``async def``: FastAPI runs a plain ``def`` dependency on its thread pool, a thread hop and a
GIL hand-over per request for what is an attribute read (docs/bench.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.cache import Caches
from app.db import get_session
from app.limits import Slots
from app.ops.metrics import Metrics
from app.settings import Settings
from app.tasks import TaskRegistry

if TYPE_CHECKING:
    import httpx  # not at run time: only a worker with a webhook configured pays its ~6 MB


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.resources.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.resources.engine
    return engine


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For work that outlives the request (a job): it opens its own sessions."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.resources.sessionmaker
    return sessionmaker


async def get_caches(request: Request) -> Caches:
    """Every resource's cache, for what reports on all of them (/debug/stats, the gauges)."""
    caches: Caches = request.state.resources.cache
    return caches


async def get_registry(request: Request) -> TaskRegistry:
    registry: TaskRegistry = request.state.resources.registry
    return registry


async def get_export_slots(request: Request) -> Slots:
    slots: Slots = request.state.resources.export_slots
    return slots


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.resources.metrics
    return metrics


async def get_webhook_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient | None = request.state.resources.webhook_client
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no webhook is configured; set LEAKPROOF_WEBHOOK_URL to enable notifications",
        )
    return client


# scope="function": the teardown (commit, close, connection back to the pool) runs when the
# handler returns, before the response is sent. With the default request scope it runs after the
# response: a client could see 2xx for a commit that then fails, and each connection stays out of
# the pool while the response is written.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CachesDep = Annotated[Caches, Depends(get_caches)]
RegistryDep = Annotated[TaskRegistry, Depends(get_registry)]
ExportSlotsDep = Annotated[Slots, Depends(get_export_slots)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
WebhookClientDep = Annotated["httpx.AsyncClient", Depends(get_webhook_client)]

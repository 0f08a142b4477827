"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.lifespan import ResourcesDep
from app.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(resources: ResourcesDep) -> Response:
    pool = resources.engine.pool
    resources.metrics.update(
        jobs=resources.registry.stats().running,
        pool_checked_out=pool.checkedout(),  # type: ignore[attr-defined]
        cache_entries=resources.cache.stats().size,
    )
    return Response(resources.metrics.render(), media_type=CONTENT_TYPE)

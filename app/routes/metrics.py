"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.deps import CachesDep, EngineDep, MetricsDep, RegistryDep
from app.lifespan import update_metrics
from app.ops.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(
    metrics: MetricsDep, engine: EngineDep, registry: RegistryDep, cache: CachesDep
) -> Response:
    # the answering worker is exact; the others refreshed theirs within metrics_refresh_s
    await update_metrics(metrics, engine, registry, cache)
    return Response(metrics.render(), media_type=CONTENT_TYPE)

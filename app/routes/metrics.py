"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.lifespan import ResourcesDep, update_metrics
from app.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(resources: ResourcesDep) -> Response:
    # the answering worker is exact; the others refreshed theirs within metrics_refresh_s
    await update_metrics(resources)
    return Response(resources.metrics.render(), media_type=CONTENT_TYPE)

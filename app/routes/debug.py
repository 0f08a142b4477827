"""GET /debug/stats and /debug/growth: the in-process view of a leak.

On in dev; in prod only with a token. Without access they answer 404, as if absent, so a
scanner learns nothing. They never show settings or secrets.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, status

from app import diagnostics
from app.lifespan import ResourcesDep


def require_debug_access(
    resources: ResourcesDep,
    x_debug_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    settings = resources.settings
    allowed = settings.debug_access
    if allowed and settings.debug_token is not None:
        expected = settings.debug_token.get_secret_value().encode()
        allowed = x_debug_token is not None and secrets.compare_digest(
            x_debug_token.encode(), expected
        )
    if not allowed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")


router = APIRouter(prefix="/debug", tags=["debug"], dependencies=[Depends(require_debug_access)])


@router.get("/stats")
async def stats(resources: ResourcesDep) -> dict[str, Any]:
    return await diagnostics.snapshot(resources)


@router.get("/growth")
async def growth(resources: ResourcesDep) -> dict[str, Any]:
    return diagnostics.growth(resources.growth_baseline)

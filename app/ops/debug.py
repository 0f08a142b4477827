"""GET /debug/stats and /debug/growth: the in-process view of a leak.

On in dev; in prod only with a token. Without access they answer 404, as if absent, so a
scanner learns nothing. They never show settings or secrets.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from app.deps import CachesDep, EngineDep, ExportSlotsDep, RegistryDep, SettingsDep
from app.ops import diagnostics


async def require_debug_access(
    settings: SettingsDep,
    x_debug_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    allowed = settings.debug_access
    if allowed and settings.debug_token is not None:
        expected = settings.debug_token.get_secret_value().encode()
        allowed = x_debug_token is not None and secrets.compare_digest(
            x_debug_token.encode(), expected
        )
    if not allowed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")


async def get_growth_baseline(request: Request) -> dict[str, object]:
    """This app's previous /debug/growth snapshot, so each call reports what changed since the
    last: debug state, kept with the debug routes rather than among the service's resources."""
    baseline: dict[str, object] | None = getattr(request.app.state, "growth_baseline", None)
    if baseline is None:
        baseline = request.app.state.growth_baseline = {}
    return baseline


router = APIRouter(prefix="/debug", tags=["debug"], dependencies=[Depends(require_debug_access)])


@router.get("/stats")
async def stats(
    settings: SettingsDep,
    engine: EngineDep,
    cache: CachesDep,
    registry: RegistryDep,
    export_slots: ExportSlotsDep,
) -> dict[str, Any]:
    return await diagnostics.snapshot(
        settings=settings, engine=engine, cache=cache, registry=registry, export_slots=export_slots
    )


@router.get("/growth")
async def growth(
    baseline: Annotated[dict[str, object], Depends(get_growth_baseline)],
) -> dict[str, Any]:
    return diagnostics.growth(baseline)

"""Liveness (the process answers) and readiness (the database answers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.deps import EngineDep

router = APIRouter(prefix="/health", tags=["health"])

READY_TIMEOUT_S = 2.0


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "The database does not answer."}})
async def ready(engine: EngineDep) -> JSONResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "detail": f"database unavailable: {type(error).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    return JSONResponse({"status": "ok"})

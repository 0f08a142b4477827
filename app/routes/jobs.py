"""Background jobs through the supervised task registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.deps import RegistryDep, SessionmakerDep, SettingsDep
from app.errors import documented
from app.models import Item
from app.schemas import JobCreate, JobRead
from app.tasks import Job, RegistryFull

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="The id POST /jobs returned.")]


async def items_summary(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, float | int | None]:
    """Count and price statistics over all items, in a session of the job's own."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(func.count(Item.id), func.sum(Item.price), func.avg(Item.price))
            )
        ).one()
    count, total, average = row
    return {
        "count": count,
        "price_total": float(total) if total is not None else 0.0,
        "price_average": float(average) if average is not None else None,
    }


def _read(job: Job) -> JobRead:
    result = job.result if isinstance(job.result, dict) else None
    return JobRead(
        id=job.id,
        name=job.name,
        state=job.state,
        result=result,
        error=job.error,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=documented(400, 413, 503))
async def start_job(
    registry: RegistryDep, sessionmaker: SessionmakerDep, body: JobCreate | None = None
) -> JobRead:
    kind = (body or JobCreate()).kind
    try:
        job = registry.start(kind, lambda: items_summary(sessionmaker))
    except RegistryFull as full:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"job queue is full ({full}); retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    return _read(job)


@router.get("/{job_id}", responses=documented(404))
async def read_job(job_id: JobId, registry: RegistryDep, settings: SettingsDep) -> JobRead:
    job = registry.get(job_id)
    if job is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"job {job_id} not found (finished jobs are kept for the last "
            f"{settings.tasks_max_kept})",
        )
    return _read(job)

"""What a process holds right now: memory, heap, gc, tasks, pool, connections, fds, threads.

The numbers a leak moves. RSS is not the Python heap (glibc arenas and pymalloc keep freed
memory), so the heap from tracemalloc is reported beside RSS/USS when tracing is on.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import tracemalloc
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import objgraph
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cache import Caches
from app.db import application_name
from app.limits import Slots
from app.settings import Settings
from app.tasks import TaskRegistry

MB = 1024 * 1024
# Counts this service's connections across all its processes, and this process's alone.
ACTIVITY_QUERY = text(
    "SELECT count(*) FILTER (WHERE application_name = :mine) AS process, "
    "count(*) FILTER (WHERE application_name LIKE :app) AS app "
    "FROM pg_stat_activity"
)


def pool_stats(engine: AsyncEngine) -> dict[str, int]:
    pool: Any = engine.pool
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        "overflow": max(pool.overflow(), 0),
        "checked_in": pool.checkedin(),
    }


def process_stats() -> dict[str, Any]:
    process = psutil.Process()
    memory = process.memory_full_info()
    heap_mb = tracemalloc.get_traced_memory()[0] / MB if tracemalloc.is_tracing() else None
    return {
        "pid": os.getpid(),
        "rss_mb": round(memory.rss / MB, 2),
        "uss_mb": round(memory.uss / MB, 2),
        "heap_mb": round(heap_mb, 2) if heap_mb is not None else None,
        "fds": process.num_fds(),
        "threads": process.num_threads(),
        "gc_counts": list(gc.get_count()),
        "gc_objects": len(gc.get_objects()),
        "asyncio_tasks": len(asyncio.all_tasks()),
    }


def worker_identity() -> dict[str, Any]:
    """Which replica (host: the container's name under docker) and which worker answered; a
    recycled worker comes back with a new pid and a new start time."""
    started = datetime.fromtimestamp(psutil.Process().create_time(), UTC)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "parent_pid": os.getppid(),
        "started_at": started.isoformat(timespec="seconds"),
    }


async def db_connections(engine: AsyncEngine, app_name: str) -> dict[str, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                ACTIVITY_QUERY,
                {"mine": application_name(app_name), "app": application_name(app_name, pid="%")},
            )
        ).one()
    return {"process": row.process, "app": row.app}


async def snapshot(
    *,
    settings: Settings,
    engine: AsyncEngine,
    cache: Caches,
    registry: TaskRegistry,
    export_slots: Slots,
) -> dict[str, Any]:
    """Everything at once; the pool is read before the activity query borrows a connection,
    and the query is skipped when no connection is left to borrow."""
    pool = pool_stats(engine)
    stats = process_stats()
    stats["app_name"] = settings.app_name
    stats["worker"] = worker_identity()
    stats["pool"] = pool
    if pool["checked_out"] >= settings.db_pool_size + settings.db_max_overflow:
        # every connection is out (a leak, or a saturated worker): asking for one more would
        # wait for the pool timeout and answer 503, hiding the very figures that explain it
        stats["pg_stat_activity"] = None
        stats["pg_stat_activity_skipped"] = "the pool is exhausted; count rows from outside"
    else:
        stats["pg_stat_activity"] = await db_connections(engine, settings.app_name)
    stats["cache"] = asdict(await cache.stats())
    stats["jobs"] = asdict(registry.stats())
    stats["exports_running"] = export_slots.in_use
    return stats


def growth(baseline: dict[str, object], limit: int = 20) -> dict[str, Any]:
    """Object types and heap lines that grew since the previous call (after a full collection)."""
    gc.collect()
    grown = objgraph.growth(limit=limit, peak_stats=baseline.setdefault("objgraph", {}))
    report: dict[str, Any] = {
        "objects": [{"type": name, "count": count, "delta": delta} for name, count, delta in grown],
        "heap": None,
    }
    if tracemalloc.is_tracing():
        current = tracemalloc.take_snapshot()
        previous = baseline.get("tracemalloc")
        if isinstance(previous, tracemalloc.Snapshot):
            report["heap"] = [
                {
                    "where": str(stat.traceback[0]),
                    "size_diff_kb": round(stat.size_diff / 1024, 1),
                    "count_diff": stat.count_diff,
                }
                for stat in current.compare_to(previous, "lineno")[:limit]
            ]
        baseline["tracemalloc"] = current
    return report

"""Prometheus metrics: process memory plus the gauges a leak moves (tasks, pool, cache).

Each app has its own CollectorRegistry (a module-level default registry is the global-state
anti-pattern this project teaches). Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set and every
worker writes its values to files there, so a scrape answered by any worker sees all of them,
labelled by pid; the gunicorn config removes a recycled worker's files. A scrape reaches one
worker only, so each worker refreshes its own gauges on a timer (``refresh_periodically``, run
by the lifespan): the other workers' values are never older than the interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
RECYCLES = "leakproof_worker_recycles"
RECYCLE_REASONS = ("requests", "memory")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())


class Metrics:
    def __init__(self) -> None:
        self._multiprocess = multiprocess_dir() is not None
        self._registry = CollectorRegistry(auto_describe=True)
        if not self._multiprocess:
            ProcessCollector(registry=self._registry)
        # "livesum"/"liveall" count only workers that are alive; a single process ignores the mode
        self._tasks = self._gauge(
            "leakproof_asyncio_tasks", "asyncio tasks in the event loop", "liveall"
        )
        self._jobs = self._gauge(
            "leakproof_jobs_running", "jobs running in the task registry", "livesum"
        )
        self._pool = self._gauge(
            "leakproof_db_pool_checked_out", "connections checked out of the pool", "livesum"
        )
        self._cache = self._gauge(
            "leakproof_cache_entries", "cache entries, all resources", "liveall"
        )
        self._rss = self._gauge(
            "leakproof_worker_rss_bytes", "resident memory of a worker", "liveall"
        )
        # a counter's files outlive the worker that wrote them: recycles by every past worker
        self._recycles = Counter(
            RECYCLES,
            "gunicorn workers recycled, by reason (requests: max_requests; memory: the budget)",
            ["reason"],
            registry=None if self._multiprocess else self._registry,
        )
        for reason in RECYCLE_REASONS:
            self._recycles.labels(reason=reason)  # listed at 0 before the first recycle
        self._updated = self._gauge(
            "leakproof_worker_metrics_updated_seconds",
            "unix time of a worker's last gauge update (shows stale workers)",
            "liveall",
        )

    def _gauge(self, name: str, description: str, mode: str) -> Gauge:
        return Gauge(
            name,
            description,
            registry=None if self._multiprocess else self._registry,
            multiprocess_mode=mode,  # type: ignore[arg-type]
        )

    def update(self, *, jobs: int, pool_checked_out: int, cache_entries: int) -> None:
        self._tasks.set(len(asyncio.all_tasks()))
        self._jobs.set(jobs)
        self._pool.set(pool_checked_out)
        self._cache.set(cache_entries)
        self._rss.set(psutil.Process().memory_info().rss)
        self._updated.set(time.time())

    def render(self) -> bytes:
        if not self._multiprocess:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


async def refresh_periodically(update: Callable[[], Awaitable[None]], interval_s: float) -> None:
    """Run ``update`` now and every ``interval_s`` until cancelled; a failure is logged, and
    the next turn tries again, so one bad read never stops the refresh."""
    while True:
        try:
            await update()
        except Exception:
            logger.exception("metrics refresh failed; retrying in %.1f s", interval_s)
        await asyncio.sleep(interval_s)


def count_recycle(reason: str) -> None:
    """One more worker recycled for ``reason``, called by the worker as it starts to drain.
    Only gunicorn recycles, and gunicorn runs in multiprocess mode: elsewhere, nothing to count."""
    if multiprocess_dir() is not None:
        Counter(RECYCLES, "", ["reason"], registry=None).labels(reason=reason).inc()


def reset_multiprocess_dir(path: str) -> None:
    """Empty a metrics folder left by a previous run (a fixed path in a container, a volume):
    its files would otherwise report the old run's workers as alive."""
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)


def mark_worker_dead(pid: int) -> None:
    """Drop a finished worker's live gauges (called from gunicorn's child_exit hook)."""
    if multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


UNMATCHED_ROUTE = "<unmatched>"


class RequestMetrics:
    """Requests and their durations by method, route template and status.

    Labelled by the route's template (``/items/{item_id}``), never by the raw path: a label
    value is one time series for the life of the process, so labels must come from a bounded
    set. Counters and histograms aggregate across gunicorn's workers in multiprocess mode.
    """

    def __init__(self, metrics: Metrics) -> None:
        registry = None if metrics._multiprocess else metrics._registry
        self._requests = Counter(
            "leakproof_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "leakproof_http_request_duration_seconds",
            "time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=registry,
        )
        self._shed = Counter(
            "leakproof_http_requests_shed",
            "requests answered 503 at once because too many waited for a turn "
            "(LEAKPROOF_MAX_QUEUED_REQUESTS)",
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._duration.labels(method, route).observe(seconds)

    def count_shed(self) -> None:
        self._shed.inc()

"""metrics-cardinality: request metrics labelled by the raw path instead of the route template.

The anti-pattern: ``route=request.url.path`` looks like the route in a dashboard, so it gets used
as a Prometheus label. But the raw path carries the ids (``/items/4711``, ``/jobs/<uuid>``), and
every distinct label value is a new time series that the client library keeps for the life of
the process: a counter per method, path and status, and a histogram (a dozen buckets, a sum and
a count) per method and path. Nothing ever drops a series; a scanner's random paths add theirs
too. Under gunicorn's multiprocess mode each series is also written to every worker's files.

Retained: per distinct path, its counter and histogram children (a few KB with their buckets and
locks), in the metric objects' label maps (``labels()`` in prometheus_client adds them); and the
``/metrics`` body, which every scrape renders whole, grows with them.

Grows: the number of series in ``/metrics`` (``leakproof_http_request_duration_seconds_count``
lines), its size in bytes and its render time; ``/debug/growth`` lists ``MutexValue``, ``lock``,
``Counter`` and ``Histogram``; ``/debug/stats`` ``gc_objects``, ``heap_mb`` and ``rss_mb``.
Every request to a new id adds series: the item lifecycle and job ids never repeat.

The fix: ``app/middleware.py:RequestMetricsMiddleware.label`` (the route's template, and one
``<unmatched>`` for paths no route matched), recorded into ``app/ops/metrics.py:RequestMetrics``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Scope

from app.leaky.seams import Scenario, replace_middleware
from app.middleware import RequestMetricsMiddleware

ID = "metrics-cardinality"


class RawPathMetricsMiddleware(RequestMetricsMiddleware):
    """The fixed middleware with one change: the label."""

    def label(self, scope: Scope) -> str:
        path: str = scope["path"]  # ids and all: one new series per item, job or stray path
        return path


def install(app: FastAPI) -> None:
    replace_middleware(app, RequestMetricsMiddleware, RawPathMetricsMiddleware)


async def release(_app: FastAPI) -> None:
    """Nothing to hand back: the series live in the app's own registry and go with it."""


SCENARIO = Scenario(
    id=ID,
    endpoint="every request (GET /items/{id}, /jobs/{id} ...)",
    leaks="a counter and a histogram series per distinct raw path, for good",
    signal="series in /metrics; gc_objects, heap_mb",
    fix="app/middleware.py:RequestMetricsMiddleware",
    install=install,
    release=release,
)

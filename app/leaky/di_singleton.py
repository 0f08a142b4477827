"""di-singleton: ``functools.lru_cache`` on a dependency that takes the request.

The anti-pattern: ``@lru_cache`` is the documented way to build Settings once, so it gets copied
onto dependencies that take arguments. Keyed by the ``Request`` (or anything made per request),
every call is a miss and the cache keeps each key alive: an unbounded, process-wide registry that
never forgets. ``maxsize=128`` only caps the damage; the same happens with a method (``self`` is
a key) or a class-level dict of instances.

Retained: every ``starlette.requests.Request`` that reached a route using ``ResourcesDep`` (ready
probe, metrics, jobs, export, debug), with its ASGI scope, headers and the server's per-request
objects its ``receive``/``send`` point at.

Grows: ``/debug/growth`` lists ``Request``, ``dict`` and the server's ``RequestResponseCycle``;
``/debug/stats`` ``gc_objects`` and ``rss_mb``. One Request per request, forever.

The fix: ``app/lifespan.py:get_resources`` (a plain function: it reads the app-wide resources the
lifespan built once; nothing per request is cached).
"""

# no `from __future__ import annotations`: FastAPI reads the signature through the lru_cache
# wrapper, which has no __globals__ to resolve string annotations with.

from functools import cache

from fastapi import FastAPI, Request

from app import lifespan
from app.leaky.seams import Scenario, override_dependency
from app.lifespan import Resources

ID = "di-singleton"


@cache
def get_resources(request: Request) -> Resources:
    """Same body as the fix; the decorator is the bug."""
    resources: Resources = request.state.resources
    return resources


def install(app: FastAPI) -> None:
    override_dependency(app, lifespan.get_resources, get_resources)


async def release(_app: FastAPI) -> None:
    """For tests: forget every kept request (the cache is process-wide)."""
    get_resources.cache_clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /health/ready (every route with ResourcesDep)",
    leaks="every Request, its scope and headers, as lru_cache keys",
    signal="gc_objects, rss_mb; /debug/growth: Request",
    fix="app/lifespan.py:get_resources",
    install=install,
    release=release,
)

"""di-singleton: ``functools.lru_cache`` on a dependency that takes the request.

The anti-pattern: ``@lru_cache`` is the documented way to build Settings once, so it gets copied
onto dependencies that take arguments. Keyed by the ``Request`` (or anything made per request),
every call is a miss and the cache keeps each key alive: an unbounded, process-wide registry that
never forgets. ``maxsize=128`` only caps the damage; the same happens with a method (``self`` is
a key) or a class-level dict of instances.

Retained: every ``starlette.requests.Request`` that reached a route using ``EngineDep`` (ready
probe, metrics, export, debug, the speed-ups' item read), with its ASGI scope, headers and the
server's per-request objects its ``receive``/``send`` point at.

Grows: ``/debug/growth`` lists ``Request``, ``dict`` and the server's ``RequestResponseCycle``;
``/debug/stats`` ``gc_objects`` and ``rss_mb``. One Request per request, forever.

The fix: ``app/deps.py:get_engine`` (a plain function: it reads the app-wide engine the lifespan
built once; nothing per request is cached).
"""

# no `from __future__ import annotations`: FastAPI reads the signature through the lru_cache
# wrapper, which has no __globals__ to resolve string annotations with.

from functools import cache

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from app import deps
from app.leaky.seams import Scenario, override_dependency

ID = "di-singleton"


@cache
def get_engine(request: Request) -> AsyncEngine:
    """Same body as the fix; the decorator is the bug."""
    engine: AsyncEngine = request.state.resources.engine
    return engine


def install(app: FastAPI) -> None:
    override_dependency(app, deps.get_engine, get_engine)


async def release(_app: FastAPI) -> None:
    """For tests: forget every kept request (the cache is process-wide)."""
    get_engine.cache_clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /health/ready (every route with EngineDep)",
    leaks="every Request, its scope and headers, as lru_cache keys",
    signal="gc_objects, rss_mb; /debug/growth: Request",
    fix="app/deps.py:get_engine",
    install=install,
    release=release,
)

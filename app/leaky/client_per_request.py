"""client-per-request: an ``httpx.AsyncClient`` made for each webhook call and never closed.

The anti-pattern: ``httpx.AsyncClient()`` in the dependency, "so each call gets a fresh one",
without ``async with`` or ``aclose()``. A client is a connection pool with an SSL context:
building one loads the CA bundle (milliseconds of CPU, hundreds of KB of OpenSSL memory that
tracemalloc does not see), and the connection it opened stays in its pool. Nothing closes it,
so its socket lingers (CLOSE_WAIT once the receiver hangs up) until the client is collected,
and asyncio warns "unclosed transport" when it is.

Retained: per notify, one client with its SSL context, its pool and its socket. This twin keeps
each client in ``retained(app, ID)``, standing for what keeps clients alive in real code (a list
of "clients to close later", a closure, an object that owns one per call); without it they go
when the collector gets to them, with a ResourceWarning each.

Grows: ``/debug/stats`` ``fds`` (one socket per notify) and ``rss_mb`` (the SSL contexts, outside
the Python heap), ``gc_objects``; ``/debug/growth`` lists ``socket`` and each client's pool
objects (``AsyncLock``, ``ResourceGuard``, ``Event``).
The line that makes them is in ``get_webhook_client``.

The fix: ``app/webhooks.py:create_client``, called once by ``app/lifespan.py:lifespan`` (timeouts,
bounded connections, closed at shutdown), and ``app/deps.py:get_webhook_client``, which hands
that one client to every request.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException, Request, status

from app import deps
from app.leaky.seams import Scenario, override_dependency, retained

ID = "client-per-request"


async def get_webhook_client(request: Request) -> httpx.AsyncClient:
    """Same signature as the fix; a new client per call, never closed."""
    settings = request.state.resources.settings
    if settings.webhook_url is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no webhook is configured; set LEAKPROOF_WEBHOOK_URL to enable notifications",
        )
    client = httpx.AsyncClient(timeout=settings.webhook_timeout_s)  # per request, never closed
    retained(request.app, ID).append(client)
    return client


def install(app: FastAPI) -> None:
    override_dependency(app, deps.get_webhook_client, get_webhook_client)


async def release(app: FastAPI) -> None:
    """For tests: close every kept client and its connections."""
    clients = retained(app, ID)
    while clients:
        await clients.pop().aclose()


SCENARIO = Scenario(
    id=ID,
    endpoint="POST /items/{id}/notify",
    leaks="an httpx.AsyncClient per call (SSL context, pool, socket), never closed",
    signal="fds, rss_mb; /debug/growth: socket",
    fix="app/webhooks.py; app/lifespan.py:lifespan",
    install=install,
    release=release,
)

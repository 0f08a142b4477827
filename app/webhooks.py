"""The outbound HTTP client: one ``httpx.AsyncClient`` per worker, made and closed by the lifespan.

A client is a connection pool with an SSL context: building one costs milliseconds of CPU and
hundreds of KB outside the Python heap, and an unclosed one keeps its sockets. So there is one,
with timeouts on every phase and a bound on its connections, and handlers borrow it through
``app.deps.WebhookClientDep``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException, status

if TYPE_CHECKING:
    import httpx

# httpx is imported where it is used, not at the top: importing it costs every worker ~6 MB of
# memory, and only a worker with a webhook configured makes a client.


def create_client(*, timeout_s: float, max_connections: int) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,  # a webhook that redirects is misconfigured; say so, do not chase
    )


async def deliver(client: httpx.AsyncClient, url: str, event: dict[str, object]) -> int:
    """POST ``event`` to ``url``; the receiver's status, or an HTTPException a client can act
    on: 502 when the receiver fails or cannot be reached, 504 when it is too slow, 503 when every
    connection to it is busy. Never the URL itself: it may carry a secret."""
    import httpx

    try:
        response = await client.post(url, json=event)
    except httpx.PoolTimeout:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="every connection to the webhook receiver is busy; retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    except httpx.TimeoutException as error:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            detail=f"the webhook receiver did not answer in time ({type(error).__name__})",
        ) from None
    except httpx.TransportError as error:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            detail=f"the webhook receiver could not be reached ({type(error).__name__})",
        ) from None
    if not response.is_success:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            detail=f"the webhook receiver answered {response.status_code}",
        )
    return response.status_code

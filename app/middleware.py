"""The edge of the app: request IDs, the request body size limit and per-route request metrics.

Request IDs are accepted from the client only in a safe format, else generated, and echoed back.

A client (or a proxy in front) may send ``X-Request-ID`` so its logs and ours share one key.
The value ends up in log lines and a response header, so only a short, plain token is trusted:
letters, digits, ``.``, ``_`` and ``-``, at most 64 characters. That excludes newlines (forged
log lines), ``%`` (format strings), quotes and spaces. Anything else is replaced, not escaped:
a generated id cannot be abused.

The id lives in a context variable for the request; app/logs.py puts it on every log record.

The body limit has two halves. A declared Content-Length above the limit is refused here with
413, before routing, before a byte of the body is read and before any connection is taken. A
chunked body (no length declared) is counted here as it arrives (``counting_receive``) and
refused as soon as it passes the limit; the server reads it in bounded pieces (uvicorn pauses
the socket above 64 KiB buffered).
"""

from __future__ import annotations

import re
import secrets
import time
from contextvars import ContextVar

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.ops.metrics import UNMATCHED_ROUTE

REQUEST_ID_HEADER = b"x-request-id"  # as the server gives header names: lower case bytes
CONTENT_LENGTH = b"content-length"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NO_REQUEST = "-"

current_request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def accept_request_id(offered: str | None) -> str:
    """The client's id when it is a safe token, else a fresh one (32 random hex digits)."""
    if offered is not None and SAFE_REQUEST_ID.fullmatch(offered):
        return offered
    return secrets.token_hex(16)


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it does not buffer or wrap the response body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                offered = value.decode("latin-1")
                break
        request_id = accept_request_id(offered)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # appended: no layer inside this one sets the id
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


class BodySizeLimitMiddleware:
    """413 for a body above ``max_body_bytes``: at once when declared, else as soon as it passes.

    FastAPI's own ``max_body_size`` does the same counting, but answers a declared length with a
    plain-text "Content Too Large" that names no limit, swapped in when the response starts
    (after the handler ran); this one refuses before routing, in JSON like every other error.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.detail = f"the request body is larger than {max_body_bytes} bytes; send a smaller one"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == CONTENT_LENGTH), b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            # the unread body stays on the socket: close the connection rather than reuse it
            response = JSONResponse(
                {"detail": self.detail}, status_code=413, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # raised inside the body read: FastAPI's handlers turn it into the 413
                    raise HTTPException(413, detail=self.detail, headers={"Connection": "close"})
            return message

        await self.app(scope, counting_receive, send)


class RequestMetricsMiddleware:
    """Counts and times every request by its route template (``RequestMetrics``).

    The router leaves the route it chose in the scope (``scope["route"]``); its ``path`` is the
    template, so every item shares ``/items/{item_id}``. A path no route matched is counted as
    one ``<unmatched>`` route: a scanner's random paths must not each become a series.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def label(self, scope: Scope) -> str:
        template = getattr(scope.get("route"), "path", None)
        return template if isinstance(template, str) else UNMATCHED_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # the lifespan's resources, copied into every request's state by the server
            resources = scope.get("state", {}).get("resources")
            if resources is not None:
                elapsed = time.perf_counter() - started
                route = self.label(scope)
                resources.request_metrics.observe(scope["method"], route, status, elapsed)

"""Drive an ASGI app by hand, for what an HTTP client library hides: a client that reads
nothing, reads slowly, or goes away after a few chunks of a streamed response.

httpx's ASGITransport reads a whole response into memory before returning it: fine for most
tests, useless for these.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


class ClientGone(OSError):
    """What the server sees when it writes to a socket the client has closed."""


def http_scope(path: str, query: str = "", *, spec_version: str = "2.3") -> dict[str, Any]:
    """A GET as a server hands it to the app. Spec 2.3 (what uvicorn declares): a client that
    leaves is told by an ``http.disconnect`` message; 2.4: by ``send`` raising OSError."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


async def read_then_disconnect(app: ASGIApp, path: str, query: str, chunks: int) -> int:
    """GET ``path``, read ``chunks`` body chunks, then fail the next send; return chunks read."""
    scope = http_scope(path, query, spec_version="2.4")
    received = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal received
        if message["type"] == "http.response.body":
            if received >= chunks:
                raise ClientGone("connection reset by peer")
            received += 1

    try:
        await app(scope, receive, send)
    except Exception as error:  # the server's view of the dropped client
        if "ClientDisconnect" not in type(error).__name__ and not isinstance(error, ClientGone):
            raise
    return received


async def read_slowly(app: ASGIApp, path: str, query: str, pause_s: float) -> bytes:
    """GET ``path`` as a slow client would, pausing after every body chunk; return the body."""
    body = bytearray()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            await asyncio.sleep(pause_s)

    await app(http_scope(path, query, spec_version="2.4"), receive, send)
    return bytes(body)


@dataclass
class Download:
    """One GET whose body is counted and dropped (``drain``), held after its first chunk
    (``hold``: a slow reader), or abandoned after its first chunk (``abort``)."""

    asgi: ASGIApp
    path: str
    query: str = ""
    status: int | None = None
    body_bytes: int = 0
    first_chunk: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    _requested: bool = False

    async def _receive_then_wait(self, disconnect: bool) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect:
            await self.first_chunk.wait()
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # a client that stays: cancelled when the response ends
        raise AssertionError("unreachable")

    async def run(self, *, hold: bool = False, abort: bool = False) -> None:
        async def receive() -> Message:
            return await self._receive_then_wait(disconnect=abort)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                self.body_bytes += len(message.get("body", b""))
                more = message.get("more_body", False)
                if not more:
                    self.first_chunk.set()
                    return
                if not self.first_chunk.is_set():
                    self.first_chunk.set()
                    if abort:
                        await asyncio.Event().wait()  # stops reading, then goes away
                    if hold:
                        await self.resume.wait()

        try:
            await self.asgi(http_scope(self.path, self.query), receive, send)
        finally:
            self.first_chunk.set()

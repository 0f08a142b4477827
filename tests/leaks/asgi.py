"""Downloads driven straight through ASGI, as a real client would behave, minus the socket.

httpx's ASGITransport reads a whole response into memory before returning it: fine for most
proofs, useless for these, which need a client that reads nothing, reads slowly, or goes away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message

from tests.asgi_client import http_scope


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

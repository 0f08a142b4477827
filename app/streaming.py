"""A StreamingResponse that always closes its generator.

Starlette iterates the body but never calls ``aclose()`` on it: when a client disconnects, the
generator stays suspended at its ``yield`` holding whatever it opened (a cursor, a pooled
connection, a transaction) until the garbage collector finalises it. Closing it here runs the
generator's ``finally`` blocks at once, on every path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from starlette.responses import StreamingResponse
from starlette.types import Send


class ClosingStreamingResponse(StreamingResponse):
    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        media_type: str,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._generator = content
        # runs even when the generator never started (aclose() then skips its finally blocks)
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        try:
            async with aclosing(self._generator):
                await super().stream_response(send)
        finally:
            if self._on_close is not None:
                self._on_close()

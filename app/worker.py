"""gunicorn's worker class: uvicorn-worker's, with a shutdown that answers what it accepted.

When a worker stops (recycled after ``max_requests``, or TERM), uvicorn stops accepting and then
closes every connection that has no request in progress. A connection the worker accepted a
moment earlier, whose request bytes it has not read yet, is among them: the client gets a reset
and no answer. Under load, with workers recycled every few hundred requests, that happened a
few times a minute here (tests/faults/test_recycling.py). This server waits a short grace after
it stops accepting, so such requests are read and answered (with ``Connection: close``) before
the remaining idle connections are closed. The other worker keeps accepting meanwhile.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# long enough for the event loop to read requests already on accepted sockets, short enough
# not to matter next to gunicorn's graceful_timeout
ACCEPTED_GRACE_S = 0.3


class DrainingServer(Server):
    draining = False

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.draining = True
        for server in self.servers:
            server.close()  # stop accepting; requests already accepted arrive during the grace
        await asyncio.sleep(ACCEPTED_GRACE_S)
        await super().shutdown(sockets)


class CloseConnectionsWhenDraining:
    """While the server drains, every response says ``Connection: close``.

    uvicorn marks only the requests in flight when shutdown starts; one that arrives during the
    grace on a kept-alive connection would be answered keep-alive, and the client's next request
    on that connection would meet the close that follows. Told to close, the client reconnects
    and reaches a worker that is not going away. (HTTP/1.1 allows a server to close an idle
    connection at any time; this keeps the window in which that races a request empty.)
    """

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.server.draining:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)


class Worker(UvicornWorker):  # type: ignore[misc]
    # the same as UvicornWorker._serve, with the draining server
    async def _serve(self) -> None:
        server = DrainingServer(config=self.config)
        self.config.app = CloseConnectionsWhenDraining(self.wsgi, server)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

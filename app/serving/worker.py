"""gunicorn's worker class: uvicorn-worker's, with a shutdown that answers what it accepted.

When a worker stops (recycled after ``max_requests``, or TERM), uvicorn stops accepting and then
closes every connection that has no request in progress. A connection the worker accepted a
moment earlier, whose request bytes it has not read yet, is among them: the client gets a reset
and no answer. Under load, with workers recycled every few hundred requests, that happened a
few times a minute here (tests/faults/test_recycling.py). This server waits a short grace after
it stops accepting, so such requests are read and answered (with ``Connection: close``) before
the remaining idle connections are closed. The other worker keeps accepting meanwhile.

Each worker serves on gunicorn's sockets watched ``accepts_per_turn`` times, so a burst of new
connections is accepted at once however busy the worker is (app/serving/accept.py).

A worker given a memory budget (app/serving/memory_budget.py) checks its own RSS a few times a
second and, past it, leaves exactly as a ``max_requests`` recycle does: uvicorn's
``should_exit``, then this drain. Either recycle is counted by reason in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tracemalloc

import psutil
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import Server

from app.ops.metrics import count_recycle
from app.serving._uvicorn_worker import ServerHookWorker
from app.serving.accept import watched
from app.serving.memory_budget import MB, growing_sites, rss_bytes

# long enough for the event loop to read requests already on accepted sockets, short enough
# not to matter next to gunicorn's graceful_timeout
ACCEPTED_GRACE_S = 0.3
# as often as uvicorn itself looks at its max_requests count
MEMORY_CHECK_INTERVAL_S = 0.1

logger = logging.getLogger(__name__)


class DrainingServer(Server):
    draining = False

    def __init__(self, config: Config, memory_limit_bytes: int | None = None) -> None:
        super().__init__(config)
        self.memory_limit_bytes = memory_limit_bytes
        self.recycle_reason: str | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        watch = asyncio.create_task(self.watch_memory()) if self.memory_limit_bytes else None
        try:
            await super().serve(sockets)
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch

    async def watch_memory(self) -> None:
        """Past the budget, recycle: stop accepting and drain, as ``max_requests`` does."""
        assert self.memory_limit_bytes is not None
        baseline: tracemalloc.Snapshot | None = None
        while not self.should_exit:
            await asyncio.sleep(MEMORY_CHECK_INTERVAL_S)
            if baseline is None and self.started and tracemalloc.is_tracing():
                baseline = tracemalloc.take_snapshot()  # the lifespan has started tracing
            rss = rss_bytes()
            if rss > self.memory_limit_bytes and not self.should_exit:
                self.recycle_reason = "memory"
                self.should_exit = True
                self.log_memory_recycle(rss, growing_sites(baseline))
                return

    def log_memory_recycle(self, rss: int, sites: list[str]) -> None:
        uss = psutil.Process().memory_full_info().uss
        logger.warning(
            "worker %d recycled by memory: RSS %.1f MB (USS %.1f MB) over its budget of %.1f MB "
            "after %d requests; draining%s",
            os.getpid(),
            rss / MB,
            uss / MB,
            (self.memory_limit_bytes or 0) / MB,
            self.server_state.total_requests,
            "; grew most at: " + "; ".join(sites) if sites else "",
        )

    def count_recycle(self) -> None:
        """A worker leaving for its memory or its request count counts in /metrics (a TERM
        does not: that is a stop, not a recycle)."""
        limit = self.config.limit_max_requests
        if self.recycle_reason is None and limit and self.server_state.total_requests >= limit:
            self.recycle_reason = "requests"
        if self.recycle_reason is not None:
            count_recycle(self.recycle_reason)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.count_recycle()
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


class Worker(ServerHookWorker):
    # set by gunicorn.conf.py's post_fork: this worker's budget, its jitter included
    memory_limit_bytes: int | None = None
    # set by gunicorn.conf.py's post_fork, from the settings (app/serving/accept.py)
    accepts_per_turn: int = 1

    def listening_sockets(self) -> list[socket.socket]:
        return watched(super().listening_sockets(), self.accepts_per_turn)

    def create_server(self) -> tuple[Server, ASGIApp]:
        server = DrainingServer(config=self.config, memory_limit_bytes=self.memory_limit_bytes)
        return server, CloseConnectionsWhenDraining(self.wsgi, server)

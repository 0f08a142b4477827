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
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# long enough for the event loop to read requests already on accepted sockets, short enough
# not to matter next to gunicorn's graceful_timeout
ACCEPTED_GRACE_S = 0.3


class DrainingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting; requests already accepted arrive during the grace
        await asyncio.sleep(ACCEPTED_GRACE_S)
        await super().shutdown(sockets)


class Worker(UvicornWorker):  # type: ignore[misc]
    # the same as UvicornWorker._serve, with the draining server
    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

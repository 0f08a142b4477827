"""The one private name of uvicorn-worker the service uses: ``UvicornWorker._serve``.

uvicorn-worker builds uvicorn's ``Server`` inside its private ``_serve`` and has no hook to give
it another. ``ServerHookWorker`` copies that method (``UPSTREAM_SERVE`` is the upstream text it
was copied from) with two changes: the server, and the app it serves, come from
``create_server``, and the sockets it serves on from ``listening_sockets``. Written for
uvicorn-worker 0.4 (pyproject.toml: ``<0.5``); tests/test_private_names.py fails when an upgrade
changes the method.
"""

from __future__ import annotations

import socket
import sys

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from starlette.types import ASGIApp
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

DISTRIBUTION = "uvicorn-worker"
WRITTEN_FOR = ">=0.4,<0.5"

UPSTREAM_SERVE = """\
    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
"""


class ServerHookWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn-worker's worker, running the server ``create_server`` makes."""

    def create_server(self) -> tuple[Server, ASGIApp]:
        """The server to run and the app it serves: uvicorn's own, by default."""
        return Server(config=self.config), self.wsgi

    def listening_sockets(self) -> list[socket.socket]:
        """The sockets the server accepts on: gunicorn's, by default."""
        sockets: list[socket.socket] = self.sockets
        return sockets

    async def _serve(self) -> None:
        server, self.config.app = self.create_server()
        self._install_sigquit_handler()
        await server.serve(sockets=self.listening_sockets())
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

"""The lab's webhook receiver: a loopback HTTP server in the lab's own process.

``POST /items/{id}/notify`` needs somewhere to send its events. The lab starts this receiver
before the builds and points ``LEAKPROOF_WEBHOOK_URL`` at it, so both servers (which inherit
the lab's environment) call the same receiver. It answers 204 with keep-alive (HTTP/1.1), as
real receivers do: a client that is never closed keeps its connection, and the build's socket,
open.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_ENV = "LEAKPROOF_WEBHOOK_URL"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # hundreds a second; the builds' own numbers are what the lab reports


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """Serve on a free loopback port and set the webhook URL for the servers started meanwhile;
    a URL the user already set is left alone (and no receiver is started)."""
    if os.environ.get(WEBHOOK_ENV):
        yield os.environ[WEBHOOK_ENV]
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/items"
    thread = threading.Thread(target=server.serve_forever, name="lab-webhook", daemon=True)
    thread.start()
    os.environ[WEBHOOK_ENV] = url
    try:
        yield url
    finally:
        del os.environ[WEBHOOK_ENV]
        server.shutdown()
        server.server_close()
        thread.join()

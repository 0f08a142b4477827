"""A webhook receiver on loopback for the tests: answers every POST with ``status`` after
``delay_s``, and keeps the JSON bodies it got. HTTP/1.1 with keep-alive, as real receivers:
a client's connection stays open until the client closes it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    status: int = 204
    delay_s: float = 0.0
    events: list[Any] = field(default_factory=list)


@contextmanager
def webhook_receiver(status: int = 204, delay_s: float = 0.0) -> Iterator[Receiver]:
    receiver = Receiver(url="", status=status, delay_s=delay_s)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            receiver.events.append(json.loads(self.rfile.read(length)))
            time.sleep(receiver.delay_s)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads the events, not a log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/items"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""Clients that misbehave on purpose: a slow reader and one that hangs up mid-download.

They speak HTTP/1.1 over a plain socket (gevent makes it cooperative inside locust) because
an HTTP client library would buffer ahead of the reader and hide the very behaviour under test.
A small receive buffer makes the server feel the slow reader: once a few KB are in flight its
stream must wait, holding whatever it opened (stream-holds-session), and a hang-up reaches
the server while its generator is still suspended (aborted-stream).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

RECEIVE_BUFFER_BYTES = 16 * 1024
HEADER_LIMIT_BYTES = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"


@dataclass(frozen=True)
class StreamResult:
    status: int
    body_bytes: int
    complete: bool  # the server sent the whole body (the chunked stream's last chunk arrived)
    seconds: float


class StreamError(RuntimeError):
    """The server answered something that is not HTTP or closed before the headers."""


def read_stream(
    host: str,
    port: int,
    path: str,
    *,
    chunk_bytes: int,
    pause_s: float,
    stop_after_bytes: int | None = None,
    stop_after_s: float | None = None,
    timeout_s: float = 30.0,
) -> StreamResult:
    """GET ``path`` and read its body ``chunk_bytes`` at a time, pausing between reads.

    Stops early (closing the connection: the client hangs up) after ``stop_after_bytes`` or
    ``stop_after_s``; otherwise reads to the end.
    """
    started = time.perf_counter()
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # before connect, so that the advertised window is small from the first byte
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        connection.settimeout(timeout_s)
        connection.connect((host, port))
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode("ascii"))
        status, body = _read_head(connection)
        received = len(body)
        tail = body[-len(LAST_CHUNK) :]
        while True:
            if stop_after_bytes is not None and received >= stop_after_bytes:
                break
            if stop_after_s is not None and time.perf_counter() - started >= stop_after_s:
                break
            if pause_s:
                time.sleep(pause_s)
            data = connection.recv(chunk_bytes)
            if not data:
                return StreamResult(
                    status, received, tail == LAST_CHUNK, time.perf_counter() - started
                )
            received += len(data)
            tail = (tail + data)[-len(LAST_CHUNK) :]
        return StreamResult(status, received, False, time.perf_counter() - started)
    finally:
        connection.close()


def _read_head(connection: socket.socket) -> tuple[int, bytes]:
    """The status code, and whatever part of the body arrived with the headers."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = connection.recv(4096)
        if not data:
            raise StreamError("the server closed the connection before sending headers")
        head += data
        if len(head) > HEADER_LIMIT_BYTES:
            raise StreamError("response headers are larger than 64 KB")
    headers, _, body = head.partition(b"\r\n\r\n")
    status_line = headers.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
        raise StreamError(f"not an HTTP response: {headers[:80]!r}")
    return int(status_line[1]), body

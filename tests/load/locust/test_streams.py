from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from load.locust.streams import StreamError, read_stream

CHUNK = b"x" * 1000
CHUNKS = 300


class ChunkedServer:
    """A one-connection HTTP server that streams CHUNKS chunks and records how far it got."""

    def __init__(self, head: bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"):
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sent_all = threading.Event()
        self.client_left = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            connection.recv(4096)
            try:
                connection.sendall(self.head)
                for _ in range(CHUNKS):
                    connection.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                connection.sendall(b"0\r\n\r\n")
                self.sent_all.set()
            except OSError:  # the client hung up mid-stream
                self.client_left.set()

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


@pytest.fixture
def server() -> Iterator[ChunkedServer]:
    serving = ChunkedServer()
    yield serving
    serving.close()


def test_a_whole_stream_is_read_and_known_complete(server: ChunkedServer) -> None:
    result = read_stream("127.0.0.1", server.port, "/export", chunk_bytes=65536, pause_s=0)
    assert result.status == 200
    assert result.complete
    assert result.body_bytes > CHUNKS * len(CHUNK)
    assert server.sent_all.is_set()


def test_hanging_up_early_reaches_the_server_mid_stream(server: ChunkedServer) -> None:
    result = read_stream(
        "127.0.0.1", server.port, "/export", chunk_bytes=4096, pause_s=0, stop_after_bytes=8192
    )
    assert not result.complete
    assert 8192 <= result.body_bytes < CHUNKS * len(CHUNK)
    assert server.client_left.wait(10), "the server never noticed the client leave"


def test_a_slow_reader_keeps_the_server_waiting(server: ChunkedServer) -> None:
    result = read_stream(
        "127.0.0.1", server.port, "/export", chunk_bytes=1024, pause_s=0.01, stop_after_s=0.3
    )
    assert not result.complete
    assert result.seconds >= 0.3
    assert not server.sent_all.is_set()  # the small window held the sender back


def test_a_non_http_answer_is_a_stream_error() -> None:
    garbage = ChunkedServer(head=b"SSH-2.0-OpenSSH\r\n\r\n")
    try:
        with pytest.raises(StreamError, match="not an HTTP response"):
            read_stream("127.0.0.1", garbage.port, "/", chunk_bytes=1024, pause_s=0)
    finally:
        garbage.close()

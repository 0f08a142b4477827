"""The wait for requests in flight before the heap snapshot: an open request is waited out."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from load.run.readiness import free_port
from load.run.servers import client_connections, wait_until_answered

# a server that answers each connection after a delay given by the first byte sent (seconds)
SLOW_SERVER = """
import socket, sys, threading, time
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def answer(conn):
    delay = conn.recv(1)  # nothing: a readiness check
    time.sleep(int(delay or 0))
    conn.close()
while True:
    conn, _ = listener.accept()
    threading.Thread(target=answer, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def server() -> Iterator[tuple[int, int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield process.pid, port
    finally:
        process.kill()
        process.wait()


def request(port: int, seconds: int) -> socket.socket:
    """Send a request the server answers after ``seconds``."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(str(seconds).encode())
    return client


def test_no_open_connection_means_no_wait(server: tuple[int, int]) -> None:
    pid, _ = server
    time.sleep(0.3)  # the readiness checks' connections are closed
    started = time.monotonic()
    assert wait_until_answered([pid], at_least_s=0.1, at_most_s=10) == 0
    assert time.monotonic() - started < 2


def test_a_request_in_flight_is_waited_for_after_its_client_left(
    server: tuple[int, int],
) -> None:
    pid, port = server
    request(port, 3).close()  # the client leaves; the server still works on it (CLOSE_WAIT)
    time.sleep(0.3)
    assert client_connections([pid]) == 1
    started = time.monotonic()
    assert wait_until_answered([pid], at_least_s=0.1, at_most_s=10) == 0
    assert 2 < time.monotonic() - started < 6


def test_a_request_that_outlasts_the_wait_is_counted(server: tuple[int, int]) -> None:
    pid, port = server
    client = request(port, 9)
    time.sleep(0.3)
    assert wait_until_answered([pid], at_least_s=0.1, at_most_s=1) == 1
    client.close()

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from load.run.readiness import HOST, free_port, wait_ready


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that stays up: the server whose readiness is being waited for."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield process
    process.kill()
    process.wait()


def test_returns_once_the_server_answers_200(sleeper: subprocess.Popen[bytes]) -> None:
    server = ThreadingHTTPServer((HOST, free_port()), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://{HOST}:{server.server_address[1]}/health/ready"
        wait_ready(sleeper, url, name="test", timeout_s=5, poll_s=0.01)
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_exits_first_is_named_with_its_code_and_log() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    url = f"http://{HOST}:{free_port()}/health/ready"
    with pytest.raises(RuntimeError, match=r"the fixed server exited with code 3 .*; see x\.log"):
        wait_ready(process, url, name="fixed", timeout_s=10, poll_s=0.01, log_hint="; see x.log")


def test_a_server_never_ready_times_out(sleeper: subprocess.Popen[bytes]) -> None:
    url = f"http://{HOST}:{free_port()}/health/ready"  # nothing listens there
    with pytest.raises(RuntimeError, match=r"the leaky server was not ready in 0\.3 s"):
        wait_ready(sleeper, url, name="leaky", timeout_s=0.3, poll_s=0.05)


def test_an_app_the_lab_knows_nothing_of_is_ready_once_it_answers_at_all(
    sleeper: subprocess.Popen[bytes],
) -> None:
    server = ThreadingHTTPServer((HOST, free_port()), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://{HOST}:{server.server_address[1]}/"  # 404: it listens and speaks HTTP
        wait_ready(sleeper, url, name="notes:app", timeout_s=5, poll_s=0.01, any_status=True)
        with pytest.raises(RuntimeError, match="was not ready"):  # this project's wants a 200
            wait_ready(sleeper, url, name="fixed", timeout_s=0.3, poll_s=0.05)
    finally:
        server.shutdown()
        server.server_close()

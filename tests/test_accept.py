"""A busy worker accepts a burst of new connections at once (app/serving/accept.py).

The busy-loop app (tests/support/busy_loop.py) blocks its event loop once per turn and counts
the turns; a burst of connections then asks it which turn answered them. Counting turns rather
than seconds keeps the test independent of the machine's speed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.serving.accept import watched
from tests.support.servers import (
    ROOT,
    Server,
    environment,
    free_port,
    launch,
    server_command,
    wait_ready,
)

BURST = 12
BUSY_TURNS = 40
TARGET = "tests.support.busy_loop:app"


def test_each_listening_socket_is_followed_by_its_copies() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        copies = watched([listener], 4)
        try:
            assert copies[0] is listener
            assert len({copy.fileno() for copy in copies}) == 4
            assert {copy.getsockname() for copy in copies} == {listener.getsockname()}
        finally:
            for copy in copies[1:]:
                copy.close()
        assert watched([listener], 1) == [listener]
        with pytest.raises(ValueError, match="at least 1"):
            watched([listener], 0)


def command(kind: str, port: int) -> list[str]:
    """The single worker's command line, or gunicorn's with one worker."""
    if kind == "single":
        return [sys.executable, "-m", "app.serving", TARGET, "--port", str(port)]
    return [*server_command("gunicorn", port, TARGET), "--workers", "1"]


def start(kind: str, accepts_per_turn: int, log_dir: Path) -> Server:
    port = free_port()
    env = environment({"LEAKPROOF_ACCEPTS_PER_TURN": str(accepts_per_turn)})
    server = launch(kind, command(kind, port), env, log_dir / f"{kind}-{port}.log", port)
    wait_ready(server, timeout_s=30)
    return server


def turns_that_answered_a_burst(server: Server) -> list[int]:
    """Keep the loop busy, open BURST connections at once, and read which turn answered each."""
    port = int(server.url.rsplit(":", 1)[1])
    assert httpx.get(f"{server.url}/busy", params={"turns": BUSY_TURNS}).text == "busy"
    burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(BURST)]
    try:
        for connection in burst:
            connection.sendall(b"GET /turn HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answers = []
        for connection in burst:
            connection.settimeout(30)
            reply = b""
            while chunk := connection.recv(4096):
                reply += chunk
            answers.append(int(reply.rsplit(b"\r\n\r\n", 1)[1]))
        return answers
    finally:
        for connection in burst:
            connection.close()


@pytest.mark.parametrize("kind", ["single", "gunicorn"])
def test_a_busy_worker_accepts_a_burst_within_a_few_turns(kind: str, tmp_path: Path) -> None:
    server = start(kind, BURST + 4, tmp_path)
    try:
        answered = turns_that_answered_a_burst(server)
    finally:
        server.kill()
    # accepted in one turn, answered in the next: all in the same turn
    assert max(answered) - min(answered) <= 1, f"answered in turns {sorted(answered)}"


def test_uvicorn_s_own_accept_path_takes_one_connection_per_turn(tmp_path: Path) -> None:
    """accepts_per_turn=1 is uvicorn's own: why the setting exists."""
    server = start("single", 1, tmp_path)
    try:
        answered = turns_that_answered_a_burst(server)
    finally:
        server.kill()
    assert max(answered) - min(answered) >= BURST - 2, f"answered in turns {sorted(answered)}"


def test_a_bad_setting_stops_the_single_worker_with_one_line_naming_it() -> None:
    env = environment({"LEAKPROOF_ACCEPTS_PER_TURN": "0"})
    started = command("single", free_port())
    done = subprocess.run(started, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "LEAKPROOF_ACCEPTS_PER_TURN" in done.stderr
    assert "Traceback" not in done.stderr

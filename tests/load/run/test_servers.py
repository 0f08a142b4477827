"""How the lab waits on the servers it starts, and what it says when one dies: an open request
is waited out before the heap snapshot; a crash is named by its signal, its stack in the log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from load.run.readiness import free_port
from load.run.runner import died_notes
from load.run.servers import Children, client_connections, wait_until_answered

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


def test_a_server_that_crashes_leaves_its_stack_in_its_log_and_is_named_by_its_signal(
    tmp_path: Path,
) -> None:
    """A crash in native code ends a server with a signal and no traceback of its own: the
    launcher's fault handler writes the Python stack, and the lab names the signal."""
    (tmp_path / "crashing.py").write_text(
        "import os, signal\n\ndef serve():\n    os.kill(os.getpid(), signal.SIGSEGV)\n\nserve()\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "LEAKPROOF_PROBE_DIR"}
    command = [sys.executable, "-P", "-m", "load.probe", "--path", str(tmp_path), "crashing"]
    children = Children()
    try:
        child = children.start("server", command, env, tmp_path / "server.log")
        child.process.wait(60)
        assert child.how_it_ended() == "killed by SIGSEGV"
    finally:
        children.stop_all()
    log = (tmp_path / "server.log").read_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert 'crashing.py", line 4 in serve' in log


def test_a_server_that_exits_is_named_by_its_exit_code(tmp_path: Path) -> None:
    children = Children()
    try:
        child = children.start(
            "server", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ),
            tmp_path / "server.log",
        )  # fmt: skip
        child.process.wait(60)
        assert child.how_it_ended() == "exit code 3"
    finally:
        children.stop_all()


def test_a_server_that_died_under_memray_says_how_to_tell_whose_crash_it_was() -> None:
    log = Path("out/server-fixed.log")
    alone = died_notes("fixed", "killed by SIGSEGV", log, under_memray=False)
    assert alone == [
        "the fixed server died during the run (killed by SIGSEGV); see out/server-fixed.log"
    ]
    under = died_notes("fixed", "killed by SIGSEGV", log, under_memray=True)
    assert under[0] == alone[0]
    assert "run it again without --memray" in under[1]

"""Start `leakproof serve` as a real process on a free loopback port, and wait for it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.dev import embedded_postgres

LEAKPROOF = [sys.executable, "-m", "app.dev.cli"]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    data_dir: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, signum: int, timeout_s: float = 30) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL the whole process group: killing the launcher alone would orphan the
        gunicorn it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        stop_postgres(self.data_dir)  # killed, the launcher never ran the atexit that stops it


# what serve() started in the running test; the conftest kills what is still up after it, so a
# failing assertion never leaves a server (and its database) running
started: list[Server] = []


def kill_leftovers() -> None:
    while started:
        server = started.pop()
        if server.process.poll() is None:
            server.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def serve(data_dir: Path, *args: str, settings: Mapping[str, str] | None = None) -> Server:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    environment.update({"LEAKPROOF_DATA_DIR": str(data_dir), "LEAKPROOF_LOG_LEVEL": "warning"})
    environment.update(settings or {})  # LEAKPROOF_* values of the test's own
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    # a file, not a pipe: a pipe nobody reads would block a talkative server
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*LEAKPROOF, "serve", "--port", str(port), *args],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches its children
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, data_dir)
    started.append(server)
    return server


def wait_ready(server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"server not ready within {timeout_s}s:\n{server.output()}")


def postgres_running(data_dir: Path) -> bool:
    """Whether a PostgreSQL server is running on this data folder (its postmaster.pid names it)."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def wait_stopped(data_dir: Path, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not postgres_running(data_dir):
            return True
        time.sleep(0.1)
    return False


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL on this data folder, if one is running."""
    if postgres_running(data_dir):
        embedded_postgres.stop(data_dir)

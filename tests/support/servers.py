"""Real servers for the tests: ``leakproof serve`` (its own embedded PostgreSQL) or uvicorn and
gunicorn on a database URL, each a subprocess on a free loopback port.

Each writes its output to a file (a pipe nobody reads would block a talkative server) and runs
in a process group of its own; every server started is killed after its test if still up
(``kill_leftovers``, an autouse fixture), so a failing assertion never leaves one running.
Stopping is by pid, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from app.dev import embedded_postgres

ROOT = Path(__file__).resolve().parents[2]
LEAKPROOF = [sys.executable, "-m", "app.dev.cli"]
Kind = Literal["uvicorn", "gunicorn"]


@dataclass
class Server:
    name: str  # what the errors call it: uvicorn, gunicorn, leakproof serve
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    data_dir: Path | None = None  # the embedded PostgreSQL ``leakproof serve`` started

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout_s: float = 30) -> int:
        return self.process.wait(timeout=timeout_s)

    def stop(self, signum: int, timeout_s: float = 30) -> int:
        self.signal(signum)
        return self.wait_exit(timeout_s)

    def kill(self) -> None:
        """SIGKILL the whole process group: killing the launcher alone would orphan the
        gunicorn it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.data_dir is not None:  # killed, the launcher never ran the atexit that stops it
            stop_postgres(self.data_dir)


# what launch() started in the running test, for kill_leftovers
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


def environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without its LEAKPROOF_* settings, plus the test's own."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    values.update(settings)
    return values


def launch(
    name: str, command: list[str], env: dict[str, str], log: Path, port: int,
    data_dir: Path | None = None,
) -> Server:  # fmt: skip
    """Start ``command`` in a process group of its own, its output appended to ``log``."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name, process, f"http://127.0.0.1:{port}", log, data_dir)
    started.append(server)
    return server


def wait_ready(server: Server, timeout_s: float = 60) -> None:
    """Return once /health/ready answers 200; a server that exits first or stays unready is
    killed and fails the test with its output."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"{server.name} exited with {server.process.returncode}:\n{server.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"{server.name} not ready within {timeout_s}s:\n{server.output()}")


def serve(data_dir: Path, *args: str, settings: Mapping[str, str] | None = None) -> Server:
    """``leakproof serve`` on its own embedded PostgreSQL in ``data_dir``; not waited for."""
    port = free_port()
    env = environment(
        {"LEAKPROOF_DATA_DIR": str(data_dir), "LEAKPROOF_LOG_LEVEL": "warning", **(settings or {})}
    )
    command = [*LEAKPROOF, "serve", "--port", str(port), *args]
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    return launch("leakproof serve", command, env, log, port, data_dir)


def server_command(kind: Kind, port: int, target: str = "app.main:app") -> list[str]:
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", target,
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), target,
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip


@contextmanager
def running(
    kind: Kind, database_url: str, log_dir: Path, target: str = "app.main:app", **settings: str
) -> Iterator[Server]:
    """uvicorn or gunicorn on ``database_url`` (the fixed build unless ``target`` names another
    ASGI app), ready; stopped with SIGTERM afterwards, and killed if that is not enough."""
    port = free_port()
    env = environment(
        {"LEAKPROOF_DATABASE_URL": database_url, "LEAKPROOF_LOG_LEVEL": "info", **settings}
    )
    server = launch(
        kind, server_command(kind, port, target), env, log_dir / f"{kind}-{port}.log", port
    )
    try:
        wait_ready(server, timeout_s=30)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


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

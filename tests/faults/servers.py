"""Real servers for fault tests: uvicorn or gunicorn as subprocesses on free loopback ports.

Each server gets its own database URL and writes its output to a file (a pipe nobody reads
would block a talkative server). Stopping is by pid, never by name.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
Kind = Literal["uvicorn", "gunicorn"]


@dataclass
class Server:
    kind: Kind
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout_s: float = 30) -> int:
        return self.process.wait(timeout=timeout_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def command(kind: Kind, port: int, target: str = "app.main:app") -> list[str]:
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", target,
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), target,
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip


def server_environment(database_url: str, settings: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without its LEAKPROOF_* settings, plus the test's own."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    environment["LEAKPROOF_DATABASE_URL"] = database_url
    environment["LEAKPROOF_LOG_LEVEL"] = "info"
    environment.update(settings)
    return environment


def wait_live(server: Server, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.kind} exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{server.kind} not ready within {timeout_s}s:\n{server.output()}")


@contextmanager
def running(
    kind: Kind, database_url: str, log_dir: Path, target: str = "app.main:app", **settings: str
) -> Iterator[Server]:
    """Start a server (the fixed build unless ``target`` names another ASGI app), wait until it
    is ready, and make sure it is gone afterwards."""
    port = free_port()
    log = log_dir / f"{kind}-{port}.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command(kind, port, target),
            cwd=ROOT,
            env=server_environment(database_url, settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(kind, process, f"http://127.0.0.1:{port}", log)
    try:
        wait_live(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""Server processes for ``leakproof bench``: start, wait for ready, sample memory, download, stop.

Every server is one uvicorn process on loopback, started as the service starts one worker
(``python -m app.serving``: uvloop and httptools, access log off for both builds alike), so its
RSS is the worker's RSS; the one exception is the fixed build under gunicorn, whose CPU is its
workers' and its arbiter's together.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from load.run.readiness import HOST, free_port, wait_ready

MB = 1024 * 1024
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
READY_TIMEOUT_S = 30.0
SAMPLE_INTERVAL_S = 0.02  # 50 Hz: an export's allocation peak lasts far longer than 20 ms


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    started_s: float  # from spawn to /health/ready answering 200

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, USS) in MB."""
        info = psutil.Process(self.process.pid).memory_full_info()
        return info.rss / MB, info.uss / MB

    def cpu_s(self) -> float:
        """CPU seconds of the process and of every worker it started (gunicorn's)."""
        process = psutil.Process(self.process.pid)
        total = 0.0
        for member in (process, *process.children(recursive=True)):
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue  # a worker that left between the listing and the reading
            total += times.user + times.system
        return total

    def get(self, path: str, timeout_s: float = 10.0) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=timeout_s) as answer:  # noqa: S310
            body: bytes = answer.read()
            return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, target: str, env: dict[str, str], *, workers: int = 0) -> Server:
    """Spawn one worker serving ``target`` (``python -m app.serving``; or, given ``workers``,
    gunicorn with that many workers and the project's gunicorn.conf.py) and return once
    /health/ready answers 200."""
    port = free_port()
    if workers:
        command = [
            sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), target,
            "--workers", str(workers), "--bind", f"{HOST}:{port}",
        ]  # fmt: skip
    else:
        # the project's one-worker server (uvicorn's, accepting a burst of connections at once);
        # its log level comes from LEAKPROOF_LOG_LEVEL
        command = [
            sys.executable, "-m", "app.serving", target, "--host", HOST, "--port", str(port),
            "--no-access-log",
        ]  # fmt: skip
    began = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env})
    server = Server(name, port, process, 0.0)
    try:
        wait_ready(process, f"{server.base}/health/ready", name=name, timeout_s=READY_TIMEOUT_S,
                   poll_s=0.01)  # fmt: skip
    except RuntimeError:
        server.stop()
        raise
    server.started_s = time.perf_counter() - began
    return server


class RssSampler:
    """The highest RSS of a process, sampled at 50 Hz on a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self.peak_mb = 0.0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / MB)
            self.samples += 1
            self._stop.wait(SAMPLE_INTERVAL_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def download(port: int, path: str) -> tuple[int, float]:
    """GET path, discard the body as it arrives; return (body bytes, seconds).

    A plain socket (no HTTP client) keeps the reader cheap; the last chunk's terminator proves
    the stream ended normally rather than being cut."""
    began = time.perf_counter()
    received = 0
    tail = b""
    head = b""
    buffer = bytearray(1 << 20)
    with socket.create_connection((HOST, port)) as connection:
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode())
        while count := connection.recv_into(buffer):
            if len(head) < 16:
                head += bytes(buffer[: min(count, 16 - len(head))])
            received += count
            tail = (tail + bytes(buffer[max(0, count - 16) : count]))[-16:]
    elapsed = time.perf_counter() - began
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the download of {path} answered {head!r}, not 200")
    if not tail.endswith(b"0\r\n\r\n"):
        raise RuntimeError(f"the download of {path} ended before its last chunk ({received} bytes)")
    return received, elapsed

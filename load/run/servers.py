"""Start a build as a server process of its own, find its workers, and stop it without orphans.

Every child runs in a new session (its own process group): a Ctrl-C in the terminal reaches
only the lab, which then stops each group it started, SIGTERM first and SIGKILL after a grace
period, so no server, worker or load generator outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from load.report import memray_capture
from load.run import readiness
from load.run.config import LabConfig
from load.run.recycling import memory_env
from load.run.target import ROOT, Target

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
LAB_CACHE_MAX_ENTRIES = 200
LAB_TASKS_MAX_KEPT = 50
MMAP_THRESHOLD_BYTES = 128 * 1024
# gunicorn's worker for an ASGI app that brings no gunicorn settings of its own
ASGI_WORKER = "uvicorn_worker.UvicornWorker"


# how often the wait for requests in flight looks again
ANSWERED_POLL_S = 0.2


def server_command(target: Target, config: LabConfig, port: int) -> list[str]:
    """The server as ``python -m``, behind the probe's launcher (``python -P -m load.probe
    --path APP_DIR``): the probe runs inside when attribution is on, and the app imports from
    its own folder, first on the path, whatever else that folder holds."""
    launcher = ["-m", "load.probe", "--path", str(target.app_dir)]
    if config.memray:  # memray runs the module itself (-m), and the launcher inside it
        python = [*memray_capture.command_prefix(config.out, target.slug), *launcher]
    else:
        python = [sys.executable, *launcher]
    python.insert(1, "-P")  # the interpreter's -P: not the working directory's `load` package
    if config.server == "uvicorn":
        return [
            *python, "uvicorn", target.app,
            "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    gunicorn_config = target.gunicorn_config
    settings = (
        ["-c", str(gunicorn_config)]
        if gunicorn_config is not None
        else ["--worker-class", ASGI_WORKER, "--no-control-socket"]
    )
    command = [
        *python, "gunicorn", *settings, target.app,
        "--bind", f"127.0.0.1:{port}", "--workers", str(config.workers),
    ]  # fmt: skip
    if config.max_requests is not None:
        # a tenth as jitter (the settings' default of 1000 would swamp a small K): workers
        # still do not all recycle at once
        jitter = config.max_requests // 10
        command += [
            "--max-requests",
            str(config.max_requests),
            "--max-requests-jitter",
            str(jitter),
        ]
    elif config.max_memory is not None:
        command += ["--max-requests", "0"]  # memory alone decides when a worker is recycled
    return command


def server_env(
    target: Target, config: LabConfig, database_url: str | None, probe_dir: Path | None = None
) -> dict[str, str]:
    """The lab's environment, the probe's folder, and then: this project's settings for its own
    app (each build's connections named after it), or the user's ``--env`` for any other."""
    env = dict(os.environ)
    if probe_dir is not None:
        env["LEAKPROOF_PROBE_DIR"] = str(probe_dir)
    env.update(
        # glibc raises its mmap threshold after the first large buffer is freed, and from then
        # on puts export batches (~200 KB each) on the heap, which fragments and grows RSS in
        # ~1 MB steps that are not objects; a fixed threshold keeps them mmapped, returned on free
        MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD_BYTES),
        PYTHONUNBUFFERED="1",
    )
    if target.template:
        env.update(template_env(target, config, database_url))
    env.update(target.env)
    return env


def template_env(target: Target, config: LabConfig, database_url: str | None) -> dict[str, str]:
    """This project's settings for a lab run of its own app."""
    env = {
        # each build's connections carry its name, which the lab counts them by
        "LEAKPROOF_APP_NAME": f"leakproof-{target.slug}",
        "LEAKPROOF_ENVIRONMENT": "dev",
        "LEAKPROOF_DEBUG_ENABLED": "true",  # the inside view (GET /debug/stats) is part of the lab
        "LEAKPROOF_LOG_LEVEL": "warning",
        # the bounded cache reaches its ceiling within warm-up (reads span the whole table),
        # so what the fixed build's memory does afterwards is steady state, not filling up
        "LEAKPROOF_CACHE_MAX_ENTRIES": str(LAB_CACHE_MAX_ENTRIES),
        # the same for the finished jobs the registry keeps for GET /jobs/{id}: at the default
        # they fill for a long while, a slow climb of the heap that a short run cannot tell from
        # a leak (it levels off; docs/bench.md, "bounded is not a leak")
        "LEAKPROOF_TASKS_MAX_KEPT": str(LAB_TASKS_MAX_KEPT),
    }
    if database_url is not None:
        env["LEAKPROOF_DATABASE_URL"] = database_url
    if target.leaks is not None:
        env["LEAKPROOF_LEAKS"] = target.leaks
    env.update(memory_env(config))
    return env


@dataclass
class Child:
    """A process the lab started, in a process group of its own."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.process.wait()
        # workers left behind by a leader that died first still carry its group id
        _signal_group(self.pid, signal.SIGKILL)
        if self.log is not None:
            self.log.close()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signum)


@dataclass
class Children:
    """Everything started for a run, stopped in reverse order however the run ends."""

    started: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path = ROOT,
    ) -> Child:
        log = log_path.open("ab")
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        child = Child(name, process, log)
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


def wait_ready(child: Child, base_url: str, log_path: Path, target: Target) -> None:
    """Block until the target is ready (this project's /health/ready answers 200; any other app
    answers at all); a server that exits or hangs is a clear error."""
    readiness.wait_ready(
        child.process, f"{base_url}{target.ready_path}", name=target.name,
        timeout_s=READY_TIMEOUT_S, log_hint=f"; its log is {log_path}",
        any_status=not target.template,
    )  # fmt: skip


def server_processes(leader_pid: int) -> tuple[psutil.Process | None, list[psutil.Process]]:
    """(the gunicorn arbiter or None, the processes that serve requests)."""
    try:
        leader = psutil.Process(leader_pid)
        children = leader.children(recursive=False)
    except psutil.NoSuchProcess:
        return None, []
    if children:  # gunicorn: the leader is the arbiter, its children are the workers
        return leader, children
    return None, [leader]


def wait_until_answered(pids: list[int], *, at_least_s: float, at_most_s: float) -> int:
    """Wait until the serving processes hold no client connection: a request still in flight
    (a long response, a /metrics render slowed by tracing) holds memory that is not growth.
    Returns how many connections were still open when ``at_most_s`` ran out (0: all answered)."""
    started = time.monotonic()
    time.sleep(at_least_s)
    while True:
        open_now = client_connections(pids)
        if not open_now or time.monotonic() - started >= at_most_s:
            return open_now
        time.sleep(ANSWERED_POLL_S)


def client_connections(pids: list[int]) -> int:
    """Connections accepted on the processes' listening ports and not yet closed by them (a
    request in flight keeps its socket, in CLOSE_WAIT once the client has gone)."""
    total = 0
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        listening = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
        total += sum(
            1
            for c in connections
            if c.laddr and c.laddr.port in listening and c.status != psutil.CONN_LISTEN
        )
    return total

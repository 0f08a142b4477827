"""Every private name of a dependency is where its one module says, in the shape it was written
for, on the version pyproject.toml pins (SQLAlchemy's are tested beside the only code that uses
them). An upgrade that changes one fails here, naming the module to check, instead of failing a
worker or a test run."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from uvicorn_worker import UvicornWorker

from app.dev import embedded_postgres
from app.serving import _uvicorn_worker
from tests.support import lifespan_manager
from tests.support.database import DATA_DIR
from tests.support.pins import assert_written_for


def test_uvicorn_worker_serve_is_still_the_method_that_was_copied() -> None:
    assert_written_for(
        _uvicorn_worker.DISTRIBUTION, _uvicorn_worker.WRITTEN_FOR, "app/serving/_uvicorn_worker.py"
    )
    assert inspect.getsource(UvicornWorker._serve) == _uvicorn_worker.UPSTREAM_SERVE
    assert callable(UvicornWorker._install_sigquit_handler)


def test_the_embedded_postgres_wheel_keeps_its_binaries_handles_and_server_files(
    database_url: str,  # the suite's server is running
) -> None:
    assert_written_for(
        embedded_postgres.DISTRIBUTION,
        embedded_postgres.WRITTEN_FOR,
        "app/dev/embedded_postgres.py",
    )
    commands = embedded_postgres._wheel_commands()  # first: it quiets the wheel's import
    from embedded_postgres.postgres_server import PostgresServer

    assert callable(commands.pg_ctl)
    lock = PostgresServer._lock  # the lock on the list of holders, taken with `with`
    assert callable(type(lock).__enter__)
    assert callable(type(lock).__exit__)
    for program in ("psql", "pg_ctl", "initdb"):
        assert (embedded_postgres.bin_dir() / program).is_file(), program
    # the test database's own server, started by the suite in its data folder
    if not (DATA_DIR / "pgdata").is_dir():
        pytest.skip("the tests run on a configured PostgreSQL, not the embedded one")
    files = embedded_postgres.server_files(DATA_DIR)
    assert (files.pgdata / "PG_VERSION").is_file()
    if os.geteuid() == 0:
        assert files.system_user == embedded_postgres.SYSTEM_USER
    handles = json.loads((files.pgdata / embedded_postgres.HANDLES_FILE).read_text())
    assert isinstance(handles, list)
    assert all(isinstance(pid, int) for pid in handles)


async def test_asgi_lifespan_keeps_the_state_the_lifespan_yielded() -> None:
    assert_written_for(
        lifespan_manager.DISTRIBUTION, lifespan_manager.WRITTEN_FOR, "tests/lifespan_manager.py"
    )
    yielded = {"resources": object()}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, object]]:
        yield yielded

    async with LifespanManager(FastAPI(lifespan=lifespan)) as manager:
        assert lifespan_manager.lifespan_state(manager) == yielded

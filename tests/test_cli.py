from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import (
    LEAKPROOF,
    postgres_running,
    serve,
    stop_postgres,
    wait_ready,
    wait_stopped,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    stop_postgres(tmp_path / "data")  # what a killed server left running on this folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_embedded_postgres_migrates_and_stops_it_on_a_signal(
    data_dir: Path, signum: int
) -> None:
    server = serve(data_dir)
    wait_ready(server)
    created = httpx.post(f"{server.url}/items", json={"name": "first", "price": 1})
    assert created.status_code == 201  # the schema was migrated
    assert postgres_running(data_dir)
    assert server.stop(signum) in (0, 130, 128 + signum), server.output()
    assert wait_stopped(data_dir), "the embedded PostgreSQL outlived the server"


def test_gunicorn_with_two_workers_serves_and_stops_everything(data_dir: Path) -> None:
    server = serve(data_dir, "--server", "gunicorn", "--workers", "2")
    wait_ready(server)
    pids = {httpx.get(f"{server.url}/debug/stats").json()["pid"] for _ in range(40)}
    assert server.process.pid not in pids  # answered by workers, not by the launcher
    assert server.stop(signal.SIGTERM) == 0, server.output()
    assert wait_stopped(data_dir)


def test_a_crashed_server_does_not_block_the_next_start(data_dir: Path) -> None:
    first = serve(data_dir)
    wait_ready(first)
    first.process.kill()  # SIGKILL: no atexit, the database keeps running with a dead holder
    first.process.wait()
    assert postgres_running(data_dir)
    second = serve(data_dir)
    wait_ready(second)
    assert httpx.get(f"{second.url}/items", params={"limit": 1}).status_code == 200
    second.stop(signal.SIGTERM)
    assert wait_stopped(data_dir), "the dead holder kept the server alive"


def test_invalid_settings_stop_the_start_with_a_message_naming_the_setting(data_dir: Path) -> None:
    result = subprocess.run(
        [*LEAKPROOF, "serve"],
        env={"LEAKPROOF_DB_POOL_SIZE": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LEAKPROOF_DB_POOL_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_subcommand_or_bad_number_is_a_usage_error() -> None:
    bad = subprocess.run([*LEAKPROOF, "serve", "--workers", "-3"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "negative" in bad.stderr

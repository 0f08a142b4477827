from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.dev import cli, embedded_postgres
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


def test_a_holder_killed_while_another_runs_does_not_keep_the_server_alive(data_dir: Path) -> None:
    first = serve(data_dir)
    wait_ready(first)
    second = serve(data_dir)  # joins the same server: two holders
    wait_ready(second)
    first.process.kill()  # SIGKILL: its pid stays in the wheel's list of holders
    first.process.wait()
    assert httpx.get(f"{second.url}/items", params={"limit": 1}).status_code == 200
    second.stop(signal.SIGTERM)  # the last live holder: the server must stop with it
    assert wait_stopped(data_dir), "the killed holder kept the server alive"


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


def test_as_root_without_the_system_user_or_useradd_the_start_says_how_to_proceed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a machine where the wheel's user is missing and PATH has no sbin folder (cron, env -i)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(embedded_postgres, "SYSTEM_USER", "leakproof_test_no_such_user")
    monkeypatch.setattr(embedded_postgres, "SBIN_FOLDERS", ())
    monkeypatch.setattr(embedded_postgres, "exit_on_signals", lambda: None)  # pytest's own
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LEAKPROOF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LEAKPROOF_DATABASE_URL", raising=False)
    assert cli.main(["serve", "--port", "1"]) == 2
    error = capsys.readouterr().err
    assert "useradd -s /bin/bash leakproof_test_no_such_user" in error
    assert "LEAKPROOF_DATABASE_URL" in error
    assert not (tmp_path / "data" / "pgdata").exists()  # nothing was started

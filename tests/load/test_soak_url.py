"""End to end: ``leakproof soak --url`` against a service the test started itself (the fixed
build, then the twin's orphan-tasks), as it would be against staging: the lab starts no server
and no database, judges from /metrics and /debug/stats, and says what it could not see.

Each run is bounded (``--max-duration``) to stay under two minutes on a shared machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from load.run.database import reseed
from tests.support.servers import Server, running

SEEDED = 2000
JOBS_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class JobPoster(FastHttpUser):
    wait_time = constant(0.25)

    @task
    def post_job(self) -> None:
        self.client.post("/jobs", json={"kind": "items-summary"})
"""
RUN_TIMEOUT_S = 110


@pytest.fixture
def seeded(database_url: str) -> Iterator[str]:
    """The items the locustfile reads (ids 1..SEEDED); the table is emptied afterwards."""
    reseed(database_url, SEEDED)
    yield database_url
    reseed(database_url, 0)


def soak_url(server: Server, out: Path, *options: str) -> tuple[int, str, dict[str, Any]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAKPROOF_")}
    env["COLUMNS"] = "200"  # one line per reason, for the assertions on the output
    command = [
        sys.executable, "-m", "app.dev.cli", "soak", "--url", server.url,
        "--seed-items", str(SEEDED), "--out", str(out), *options,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = output.decode(errors="replace")
    summary = (
        json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    )
    assert summary, text
    return process.returncode, text, summary


def test_the_fixed_build_from_outside_gets_a_verdict_and_what_was_not_seen(
    seeded: str, tmp_path: Path
) -> None:
    with running("uvicorn", seeded, tmp_path) as server:
        code, output, summary = soak_url(
            server, tmp_path / "report", "--duration", "16", "--max-duration", "32", "--users", "8"
        )
        rss_now_mb = psutil.Process(server.process.pid).memory_info().rss / 2**20
    assert code in (0, 1, 3), output  # a verdict: PASS, FAIL or INCONCLUSIVE, never "cannot run"
    service = summary["builds"]["service"]
    assert summary["verdict"]["outcome"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert service["requests"] > 100
    assert service["kind"] in ("flat", "inconclusive", "memory-growth", "object-leak",
                               "allocator-retention", "resource-leak", "peak-memory")  # fmt: skip
    # the memory is the server's own, as its metrics gave it
    assert abs(service["rss_end_mb"] - rss_now_mb) < 15
    assert service["heap_measure"] == "gc objects (/debug/stats)"
    assert service["leak_sites"] == []
    assert summary["settings"]["url"] == server.url
    # what could not be seen, in the summary, the report and on the terminal
    not_seen = summary["not_seen"]
    assert any(line.startswith("no attribution") for line in not_seen)
    assert any("give --database-url" in line for line in not_seen)
    assert any(line.startswith("USS") for line in not_seen)
    assert "## Not seen from outside" in (tmp_path / "report" / "report.md").read_text()
    assert "Not seen from outside:" in output
    assert "no attribution: the probe runs only inside a server the lab starts" in output


def test_orphan_tasks_are_judged_leaking_from_outside(seeded: str, tmp_path: Path) -> None:
    """What the outside shows of this twin: the asyncio tasks gauge in /metrics keeps growing,
    and stays after the load. A locustfile of the test's own (it knows nothing of the lab) posts
    jobs only: in the project's mix, on a busy machine, the few jobs a run starts are lost among
    the tasks of requests in flight."""
    locustfile = tmp_path / "jobs_locustfile.py"
    locustfile.write_text(JOBS_LOCUSTFILE)
    with running(
        "uvicorn", seeded, tmp_path, target="app.leaky.main:app", LEAKPROOF_LEAKS="orphan-tasks"
    ) as server:
        code, output, summary = soak_url(
            server, tmp_path / "report", "--duration", "16", "--max-duration", "32",
            "--users", "4", "--locustfile", str(locustfile), "--database-url", seeded,
        )  # fmt: skip
    service = summary["builds"]["service"]
    assert code == 1, output
    assert service["kind"] == "resource-leak", service["kind_reasons"]
    assert "tasks" in service["leaked_resources"]
    assert summary["verdict"]["headline"].startswith("service: resource-leak")
    assert summary["settings"]["locustfile"] == str(locustfile)
    # with the database URL, the lab counted the connections itself
    assert service["peak_db_connections"] is not None
    assert not any("give --database-url" in line for line in summary["not_seen"])

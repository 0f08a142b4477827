"""End to end: ``leakproof soak --locust-workers 2`` loads the fixed build from locust's
distributed mode (a master and two workers), and the run ends with its progress, its statistics,
a verdict, and nothing it started still running.

A real run (its own embedded PostgreSQL, the server behind the probe), bounded to about a minute.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from load.run.locust_process import read_progress, read_stats
from tests.load.lab_cli import lab_data_dir, run_cli

RUN_TIMEOUT_S = 110
MARK = "LEAKPROOF_TEST_RUN_MARK"  # every process the run starts inherits it


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with lab_data_dir("lp-dist-") as folder:
        yield folder


def left_running(mark: str) -> list[str]:
    """The processes the run started that are still there (PostgreSQL aside: it stops when the
    last process using it has gone, and the fixture stops it)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.environ().get(MARK) == mark and "postgres" not in process.info["name"]:
                found.append(" ".join(process.info["cmdline"] or []))
        except psutil.Error:  # another user's process, or gone meanwhile
            continue
    return found


def test_a_soak_driven_by_a_master_and_two_workers_reports_and_leaves_nothing_behind(
    data_dir: Path, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    code, text = run_cli(
        [
            "soak", "--locust-workers", "2", "--users", "8", "--duration", "12",
            "--max-duration", "12", "--seed-items", "2000", "--no-attribution",
            "--out", str(tmp_path),
        ],
        RUN_TIMEOUT_S, env={"LEAKPROOF_DATA_DIR": str(data_dir), "COLUMNS": "200", MARK: mark},
    )  # fmt: skip
    assert code in (0, 1, 3), text  # a verdict, not "could not run" (2)
    assert left_running(mark) == []

    assert "locust master + 2 workers" in text
    progress = read_progress(tmp_path / "progress-fixed.txt")
    assert len(progress) > 3
    assert progress[-1][1] > 100
    stats = read_stats(tmp_path / "locust-fixed")
    assert stats.requests > 100
    assert {"locust-fixed-worker1.log", "locust-fixed-worker2.log"} <= {
        path.name for path in tmp_path.iterdir()
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["locust_workers"] == 2
    assert summary["verdict"]["outcome"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert summary["builds"]["fixed"]["requests"] == stats.requests
    assert summary["builds"]["fixed"]["measured_samples"] > 0

"""The memory budget: RSS from statm, the container's limit from real cgroup v1/v2 files, the
``auto`` arithmetic, and the settings that choose it."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app.serving.memory_budget import (
    JITTER_SHARE,
    MB,
    BudgetError,
    MemoryBudget,
    auto_budget_bytes,
    container_memory_limit,
    memory_budget,
    rss_bytes,
)
from app.settings import MIN_WORKER_MEMORY_MB, Settings, SettingsError, load_settings

GB = 1024 * MB


def test_rss_from_statm_matches_psutil() -> None:
    before = psutil.Process().memory_info().rss
    ours = rss_bytes()
    after = psutil.Process().memory_info().rss
    assert min(before, after) - MB <= ours <= max(before, after) + MB


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "proc-self-cgroup"
    file.write_text(text)
    return file


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v2_limit_of_the_own_group(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "kubepods" / "pod1" / "memory.max", str(512 * MB))
    own = proc_cgroup(tmp_path, "0::/kubepods/pod1\n")
    assert container_memory_limit(root, own) == 512 * MB


def test_cgroup_v2_max_means_no_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "memory.max", "max")
    own = proc_cgroup(tmp_path, "0::/\n")
    assert container_memory_limit(root, own) is None


def test_cgroup_v2_the_tightest_ancestor_wins(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "slice" / "memory.max", str(300 * MB))
    write(root / "slice" / "service" / "memory.max", "max")
    own = proc_cgroup(tmp_path, "0::/slice/service\n")
    assert container_memory_limit(root, own) == 300 * MB


def test_cgroup_v1_limit_and_its_unlimited_value(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    limited = root / "memory" / "docker" / "abc" / "memory.limit_in_bytes"
    write(limited, str(GB))
    own = proc_cgroup(tmp_path, "12:cpu,cpuacct:/docker/abc\n7:memory:/docker/abc\n")
    assert container_memory_limit(root, own) == GB
    write(limited, "9223372036854771712")  # v1's "no limit"
    assert container_memory_limit(root, own) is None


def test_no_cgroup_files_no_limit(tmp_path: Path) -> None:
    own = proc_cgroup(tmp_path, "0::/\n")
    assert container_memory_limit(tmp_path / "absent", own) is None
    assert container_memory_limit(tmp_path, tmp_path / "no-such-proc-file") is None


def test_auto_shares_the_limit_less_headroom_and_arbiter_among_workers() -> None:
    budget = auto_budget_bytes(GB, workers=2, headroom=0.25, reserved_bytes=100 * MB)
    # every worker at its budget plus the largest jitter, and the arbiter, leave the headroom
    assert 2 * budget * (1 + JITTER_SHARE) + 100 * MB <= GB * 0.75 + 1
    assert budget == pytest.approx((GB * 0.75 - 100 * MB) / (2 * (1 + JITTER_SHARE)), abs=1)


def test_each_worker_draws_its_own_jitter_within_the_share() -> None:
    budget = MemoryBudget(100 * MB, "test")
    rng = random.Random(15)
    limits = {budget.jittered(rng) for _ in range(50)}
    assert len(limits) > 40
    assert all(100 * MB <= limit <= 100 * MB * (1 + JITTER_SHARE) for limit in limits)


def settings_for(tmp_path: Path, value: str, **overrides: object) -> Settings:
    return load_settings(max_worker_memory_mb=value, cgroup_root=tmp_path / "cgroup", **overrides)


def test_a_number_is_the_budget(tmp_path: Path) -> None:
    budget = memory_budget(settings_for(tmp_path, "150"), workers=2, reserved_bytes=0)
    assert budget is not None
    assert budget.bytes == 150 * MB
    assert "MAX_WORKER_MEMORY_MB=150" in budget.source


def test_unset_means_no_budget(tmp_path: Path) -> None:
    assert memory_budget(load_settings(), workers=2, reserved_bytes=0) is None
    assert memory_budget(settings_for(tmp_path, ""), workers=2, reserved_bytes=0) is None


def test_auto_reads_the_limit_under_the_configured_root(tmp_path: Path) -> None:
    write(tmp_path / "cgroup" / "memory.max", str(GB))
    settings = settings_for(tmp_path, "auto", worker_memory_headroom=0.2)
    budget = memory_budget(settings, workers=4, reserved_bytes=50 * MB)
    assert budget is not None
    assert budget.bytes == auto_budget_bytes(GB, workers=4, headroom=0.2, reserved_bytes=50 * MB)
    assert "1024 MB" in budget.source
    assert "4 workers" in budget.source


def test_auto_without_a_limit_turns_recycling_by_memory_off_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "cgroup" / "memory.max", "max")
    with caplog.at_level(logging.WARNING):
        assert memory_budget(settings_for(tmp_path, "auto"), workers=2, reserved_bytes=0) is None
    assert "found no memory limit" in caplog.text


def test_auto_refuses_a_limit_too_small_for_the_workers(tmp_path: Path) -> None:
    write(tmp_path / "cgroup" / "memory.max", str(256 * MB))
    with pytest.raises(BudgetError, match=r"raise the limit, lower LEAKPROOF_WORKERS"):
        memory_budget(settings_for(tmp_path, "auto"), workers=4, reserved_bytes=60 * MB)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("12", "below what a worker holds when idle"), ("lots", "not a number of MB, auto")],
)
def test_a_bad_budget_names_the_variable_and_the_fix(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(max_worker_memory_mb=value)
    assert "LEAKPROOF_MAX_WORKER_MEMORY_MB" in str(raised.value)
    assert problem in str(raised.value)


ROOT = Path(__file__).resolve().parent.parent


def gunicorn_with_limit(
    tmp_path: Path, limit_bytes: int, workers: int, database_url: str
) -> subprocess.Popen[str]:
    """gunicorn with the budget on auto under a cgroup file of the test's own."""
    write(tmp_path / "cgroup" / "memory.max", str(limit_bytes))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    environment.update(
        LEAKPROOF_DATABASE_URL=database_url,
        LEAKPROOF_MAX_WORKER_MEMORY_MB="auto",
        LEAKPROOF_CGROUP_ROOT=str(tmp_path / "cgroup"),
        LEAKPROOF_WORKERS=str(workers),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "app.main:app",
            "--bind",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_gunicorn_refuses_a_limit_too_small_in_one_line(tmp_path: Path, database_url: str) -> None:
    server = gunicorn_with_limit(tmp_path, 200 * MB, workers=4, database_url=database_url)
    output, _ = server.communicate(timeout=60)
    assert server.returncode != 0
    assert (
        "leakproof: LEAKPROOF_MAX_WORKER_MEMORY_MB=auto: the container's limit of 200 MB" in output
    )
    assert "Traceback" not in output


def test_gunicorn_derives_each_workers_budget_from_the_limit(
    tmp_path: Path, database_url: str
) -> None:
    server = gunicorn_with_limit(tmp_path, 1024 * MB, workers=3, database_url=database_url)
    try:
        assert server.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while "memory budget per worker" not in line and time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line or server.poll() is None, "gunicorn exited before it chose a budget"
    finally:
        server.terminate()
        server.communicate(timeout=60)
    # (1024 x 0.75 - the arbiter) / (3 x 1.05): under 244 MB, and above an idle worker
    budget_mb = float(line.split("memory budget per worker: ")[1].split(" MB")[0])
    assert MIN_WORKER_MEMORY_MB < budget_mb < 1024 * 0.75 / (3 * (1 + JITTER_SHARE))
    assert "container limit 1024 MB" in line
    assert "3 workers" in line

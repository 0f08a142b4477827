"""The memory budget: RSS from statm, the container's limit from real cgroup v1/v2 files, the
``auto`` arithmetic, and the settings that choose it."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import psutil
import pytest

from app.memory_budget import (
    JITTER_SHARE,
    MB,
    BudgetError,
    MemoryBudget,
    auto_budget_bytes,
    container_memory_limit,
    memory_budget,
    rss_bytes,
)
from app.settings import Settings, SettingsError, load_settings

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

"""The accuracy table's bookkeeping: what counts as a false alarm, a miss and a right name."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from app.leaky.catalogue import SCENARIOS
from load.bench.accuracy import (
    COMPARE_LOG,
    EXPECTED,
    Tally,
    function_lines,
    judge_run,
    run_one,
    run_verdicts,
    table,
)
from load.run.config import catalogue
from load.run.target import ROOT


def run(fixed: dict[str, Any], leaky: dict[str, Any]) -> dict[str, Any]:
    return {"builds": {"fixed": fixed, "leaky": leaky}}


def test_the_lab_s_scenarios_are_the_twin_s_catalogue_in_its_order() -> None:
    assert catalogue() == tuple(SCENARIOS)


def test_every_scenario_has_an_expectation() -> None:
    assert set(EXPECTED) == set(catalogue())


def test_a_right_run_counts_once_and_names_the_module() -> None:
    tally = Tally()
    twin = {
        "kind": "object-leak",
        "growing_types": [
            {"held_by": "app.leaky.global_state._ITEMS (dict) -> ItemRead",
             "written_at": ["app/leaky/global_state.py:49"]}
        ],
    }  # fmt: skip
    judge_run("global-state", run({"kind": "flat"}, twin), tally)
    assert (tally.runs, tally.false_alarms, tally.misses, tally.named_right) == (1, 0, 0, 1)


def test_false_alarms_misses_and_wrong_names_are_told_apart() -> None:
    tally = Tally()
    judge_run("orphan-tasks", run({"kind": "object-leak"}, {"kind": "flat"}), tally)
    judge_run("orphan-tasks", run({"kind": "inconclusive"}, {"kind": "inconclusive"}), tally)
    wrong = {"kind": "resource-leak", "leaked_resources": ["fds"]}
    judge_run("orphan-tasks", run({"kind": "flat"}, wrong), tally)
    assert tally.false_alarms == 1
    assert tally.fixed_inconclusive == 1
    assert tally.misses == 2
    assert tally.named_right == 0  # a resource leak, but not of tasks
    assert "| orphan-tasks | 3 | 1 | 1 | 2 | 0 of 3 |" in table({"orphan-tasks": tally})


def test_the_top_site_is_what_counts_and_a_function_is_a_line_range() -> None:
    """metrics-cardinality is named by the labels() call in observe, not by another line of the
    same file (the /metrics render) and not by a site further down the list."""
    first, last = function_lines(ROOT / "app/ops/metrics.py", "observe")
    render = {"file": "app/ops/metrics.py", "line": first - 5, "growth_mb": 1.5}
    labels = {"file": "app/ops/metrics.py", "line": last, "growth_mb": 0.02}
    right, wrong = Tally(), Tally()
    judge_run("metrics-cardinality", run({"kind": "flat"}, twin_with([labels, render])), right)
    judge_run("metrics-cardinality", run({"kind": "flat"}, twin_with([render, labels])), wrong)
    assert (right.named_right, wrong.named_right) == (1, 0)


def twin_with(sites: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "object-leak", "leak_sites": sites}


def test_a_run_that_could_not_happen_keeps_why_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "no-such-scenario-1"
    assert run_one("no-such-scenario", folder, []) is None
    log = (folder / COMPARE_LOG).read_text()
    assert "no-such-scenario" in log
    assert "Traceback" not in log


def test_the_command_stops_when_none_of_its_first_runs_could_happen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(
        scenarios=["no-such-scenario", "no-such-either"], runs=3, out=str(tmp_path), lab_args=[]
    )
    assert run_verdicts(args) == 2
    error = capsys.readouterr().err
    assert "none of the first 2 runs could happen" in error
    assert "no-such-either" in error.splitlines()[-1]  # the compare's own line, naming the fix
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "no-such-either-1",
        "no-such-scenario-1",
    ]


def verdicts_of(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, happens: list[bool], runs: int
) -> tuple[int, int]:
    """run_verdicts over one scenario whose compares happen (a right run) or not, in order:
    its exit code and how many compares it started."""
    outcomes = iter(happens)
    started = []

    def one(scenario: str, out: Path, extra: list[str]) -> dict[str, Any] | None:
        started.append(out)
        out.mkdir(parents=True)
        (out / COMPARE_LOG).write_text("leakproof: no database here\n")
        site = {"file": "app/leaky/global_state.py", "line": 49}
        right = run({"kind": "flat"}, {"kind": "object-leak", "leak_sites": [site]})
        return right if next(outcomes) else None

    monkeypatch.setattr("load.bench.accuracy.run_one", one)
    args = argparse.Namespace(scenarios=["global-state"], runs=runs, out=str(tmp_path), lab_args=[])
    return run_verdicts(args), len(started)


def test_the_stop_counts_runs_across_rounds_and_a_single_run_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert verdicts_of(monkeypatch, tmp_path / "two", [False, False, True], runs=3) == (2, 2)
    assert verdicts_of(monkeypatch, tmp_path / "one", [False], runs=1) == (2, 1)


def test_once_a_run_has_happened_a_later_one_that_could_not_is_a_miss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert verdicts_of(monkeypatch, tmp_path, [True, False, False], runs=3) == (1, 3)
    tally = json.loads((tmp_path / "verdicts.json").read_text())["scenarios"]["global-state"]
    assert (tally["runs"], tally["misses"], tally["named_right"]) == (3, 2, 1)

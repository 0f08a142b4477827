"""The accuracy table's bookkeeping: what counts as a false alarm, a miss and a right name."""

from __future__ import annotations

from typing import Any

from app.leaky.catalogue import SCENARIOS
from load.bench.accuracy import EXPECTED, Tally, judge_run, table
from load.run.config import catalogue


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

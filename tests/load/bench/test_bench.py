"""The bench's pure parts: percentiles, medians, ratios, budget verdicts and the JSON shape.

Nothing here is timed: these are the rules that turn measured figures into a pass or a fail.
"""

from __future__ import annotations

import json
import math
from itertools import islice

import pytest
from rich.console import Console

from load.bench.generator import request_stream
from load.bench.stats import (
    BUDGETS,
    Budget,
    ReadRun,
    evaluate,
    median,
    missed,
    percentile,
    ratio,
    read_figures,
    report,
)
from load.bench.table import print_table

REQUIRED_KEYS = {
    "item_read_ratio",
    "item_read_p99_over_p50",
    "export_peak_rss_mb",
    "export_csv_ratio",
    "idle_rss_mb",
    "cold_start_s",
}

PASSING = {
    "item_read_ratio": 0.5,
    "item_read_p99_over_p50": 3.0,
    "export_peak_rss_mb": 2.0,
    "export_csv_ratio": 0.9,
    "idle_rss_mb": 80.0,
    "cold_start_s": 1.0,
}


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)


def test_percentile_does_not_depend_on_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == pytest.approx(2.5)


def test_percentile_refuses_no_samples_and_out_of_range_ranks() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_ratio_is_nan_without_a_positive_denominator() -> None:
    assert ratio(3, 4) == 0.75
    assert math.isnan(ratio(3, 0))


def test_min_and_max_budgets_judge_at_their_limit_inclusive() -> None:
    floor = Budget("x", 0.45, "min", "")
    ceiling = Budget("y", 4.0, "max", "")
    assert floor.met(0.45)
    assert not floor.met(0.449)
    assert ceiling.met(4.0)
    assert not ceiling.met(4.01)


def test_a_missing_or_nan_figure_fails_its_budget() -> None:
    figures: dict[str, float | None] = {**PASSING, "export_csv_ratio": math.nan}
    del figures["cold_start_s"]
    verdicts = evaluate(figures)
    assert missed(verdicts) == ["export_csv_ratio", "cold_start_s"]


def test_every_budget_of_the_issue_is_judged() -> None:
    assert {budget.key for budget in BUDGETS} == REQUIRED_KEYS
    assert all(evaluate(PASSING).values())
    for key in REQUIRED_KEYS:
        budget = next(b for b in BUDGETS if b.key == key)
        worse = budget.limit * (0.5 if budget.kind == "min" else 2)
        assert missed(evaluate({**PASSING, key: worse})) == [key]


def test_read_figures_take_medians_per_target_and_the_ratio_of_medians() -> None:
    runs = [
        ReadRun("raw", 3000, 10, 30, 30000, 0, 0.1, 200),
        ReadRun("fixed", 1500, 20, 60, 15000, 0, 0.05, 450),
        ReadRun("fixed", 1700, 18, 90, 17000, 0, 0.05, 400),
        ReadRun("raw", 3400, 9, 40, 34000, 0, 0.12, 180),
        ReadRun("raw", 3200, 11, 35, 32000, 0, 0.11, 190),
        ReadRun("fixed", 1600, 22, 70, 16000, 0, 0.05, 420),
    ]
    figures = read_figures(runs)
    assert figures["raw_rps"] == 3200
    assert figures["fixed_rps"] == 1600
    assert figures["item_read_ratio"] == pytest.approx(0.5)
    assert figures["item_read_p99_over_p50"] == pytest.approx(70 / 20)
    assert figures["generator_cpu_max"] == pytest.approx(0.12)
    assert figures["fixed_cpu_us_per_request"] == 420
    assert figures["raw_cpu_us_per_request"] == 190


def test_read_figures_without_a_reference_run_fail_the_ratio() -> None:
    figures = read_figures([ReadRun("fixed", 1500, 20, 60, 15000, 0, 0.05)])
    assert not evaluate(figures)["item_read_ratio"]


def test_the_report_is_one_strict_json_object_with_figures_budgets_and_verdicts() -> None:
    body = report({**PASSING, "idle_rss_mb": math.nan}, {"fixed_rps": 1234.56789, "runs": [1.5]})
    text = json.dumps(body, allow_nan=False)  # NaN would make invalid JSON
    parsed = json.loads(text)
    assert parsed.keys() >= REQUIRED_KEYS
    assert parsed["idle_rss_mb"] is None
    assert parsed["budgets_met"]["idle_rss_mb"] is False
    assert parsed["all_budgets_met"] is False
    assert parsed["budgets"]["item_read_ratio"] == {"limit": 0.45, "kind": "min"}
    assert parsed["details"]["fixed_rps"] == pytest.approx(1234.5679)


def test_the_table_names_every_budget_and_marks_a_miss() -> None:
    console = Console(record=True, width=200)
    print_table(report({**PASSING, "cold_start_s": 9.0}, {"fixed_rps": 1000.0}), console)
    text = console.export_text()
    for key in REQUIRED_KEYS:
        assert key in text
    assert "NO" in text


def test_the_request_stream_repeats_for_a_seed_and_stays_in_range() -> None:
    first = list(islice(request_stream("h", 10, 7), 50))
    again = list(islice(request_stream("h", 10, 7), 50))
    assert first == again
    ids = {int(line.split(b" ")[1].rsplit(b"/", 1)[1]) for line in first}
    assert ids <= set(range(1, 11))
    assert len(ids) > 1
    assert all(line.endswith(b"\r\n\r\n") for line in first)

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
    "item_read_c256_over_c64",
    "item_read_over_1s_c256",
    "export_peak_rss_mb",
    "export_csv_ratio",
    "idle_rss_mb",
    "cold_start_s",
}

PASSING = {
    "item_read_ratio": 0.65,
    "item_read_p99_over_p50": 2.5,
    "item_read_c256_over_c64": 0.95,
    "item_read_over_1s_c256": 0.0,
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
        worse = budget.limit * 0.5 if budget.kind == "min" else budget.limit * 2 + 1
        assert missed(evaluate({**PASSING, key: worse})) == [key]


def run(
    target: str, connections: int, number: int, rps: float, p50: float = 20, p99: float = 40,
    *, over_1s: int = 0, cpu_us: float = 400,
) -> ReadRun:  # fmt: skip
    return ReadRun(
        target, connections, number, rps, p50, p99, int(rps * 4), 0, 0.05, cpu_us,
        over_1s=over_1s,
    )  # fmt: skip


def level(connections: int, pairs: list[tuple[float, float]], p50: float = 20) -> list[ReadRun]:
    """Rounds at one level: (fixed req/s, raw req/s) per round."""
    runs = []
    for number, (fixed, raw) in enumerate(pairs):
        runs += [
            run("raw", connections, number, raw, 10),
            run("fixed", connections, number, fixed, p50),
        ]
    return runs


def test_the_ratio_of_a_level_is_the_median_of_its_rounds_ratios() -> None:
    # the raw reference had one slow round: a ratio of medians would swing, the paired one not
    runs = level(64, [(1200, 2000), (600, 1000), (1260, 2100), (1230, 2050), (1180, 1900)])
    figures = read_figures(runs)
    (c64,) = figures["read_levels"]
    assert c64["ratios"] == pytest.approx([0.6, 0.6, 0.6, 0.6, 1180 / 1900])
    assert c64["ratio_median"] == pytest.approx(0.6)
    assert c64["ratio_min"] == pytest.approx(0.6)
    assert c64["ratio_max"] == pytest.approx(1180 / 1900)
    assert c64["ratio_decided"]
    assert figures["item_read_ratio_c64"] == pytest.approx(0.6)
    # the saturated level keeps the historical names
    assert figures["fixed_rps"] == 1200
    assert figures["raw_rps"] == 2000


def test_the_read_budgets_take_the_worst_level() -> None:
    runs = [
        *level(16, [(700, 1000)] * 3, p50=20),
        *level(64, [(1200, 1800)] * 3, p50=50),
        *level(256, [(1000, 1800)] * 3, p50=250),
    ]
    runs.append(run("fixed", 256, 9, 1000, 250, 900, over_1s=3))
    figures = read_figures(runs)
    assert figures["item_read_ratio"] == pytest.approx(1000 / 1800)  # c256's, the lowest
    assert figures["item_read_c256_over_c64"] == pytest.approx(1000 / 1200)
    assert figures["item_read_over_1s_c256"] == 3
    assert figures["item_read_p99_over_p50"] == pytest.approx(2.0)  # c16: 40 / 20
    assert missed(evaluate({**PASSING, **figures})) == [
        "item_read_ratio",
        "item_read_c256_over_c64",
        "item_read_over_1s_c256",
    ]


def test_the_throughput_of_two_levels_is_compared_round_by_round() -> None:
    # the machine slowed down in round 1 for both levels alike; round 2 has no c64 run
    runs = [
        *level(64, [(1200, 2000), (600, 1000)]),
        *level(256, [(1140, 2000), (540, 1000), (300, 1000)]),
    ]
    figures = read_figures(runs)
    assert figures["item_read_c256_over_c64"] == pytest.approx((0.95 + 0.9) / 2)
    assert figures["item_read_c256_over_c64_min"] == pytest.approx(0.9)
    assert figures["item_read_c256_over_c64_max"] == pytest.approx(0.95)


def test_a_level_whose_rounds_straddle_the_floor_is_undecided() -> None:
    (c64,) = read_figures(level(64, [(550, 1000), (650, 1000), (620, 1000)]))["read_levels"]
    assert c64["ratio_median"] == pytest.approx(0.62)
    assert not c64["ratio_decided"]


def test_a_missing_level_fails_the_budgets_that_need_it() -> None:
    figures = read_figures(level(64, [(1200, 2000)]))  # no c256
    verdicts = evaluate({**PASSING, **figures})
    assert not verdicts["item_read_c256_over_c64"]
    assert not verdicts["item_read_over_1s_c256"]
    assert verdicts["item_read_ratio"]


def test_read_figures_without_a_reference_run_fail_the_ratio() -> None:
    figures = read_figures([run("fixed", 64, 0, 1500)])
    assert not evaluate(figures)["item_read_ratio"]


def test_gunicorn_runs_are_reported_beside_and_judged_by_no_budget() -> None:
    runs = [*level(64, [(1200, 2000)]), run("gunicorn", 64, 0, 2100), run("gunicorn", 64, 1, 2300)]
    figures = read_figures(runs)
    assert figures["gunicorn_levels"] == [
        pytest.approx(
            {"connections": 64, "rounds": 2, "gunicorn_rps": 2200, "gunicorn_p50_ms": 20,
             "gunicorn_p99_ms": 40, "gunicorn_cpu_us_per_request": 400, "gunicorn_over_1s": 0,
             "gunicorn_over_2s": 0, "gunicorn_shed": 0, "gunicorn_errors": 0}
        )
    ]  # fmt: skip
    assert figures["fixed_rps"] == 1200  # the single worker's figures are its own


def test_the_report_is_one_strict_json_object_with_figures_budgets_and_verdicts() -> None:
    body = report({**PASSING, "idle_rss_mb": math.nan}, {"fixed_rps": 1234.56789, "runs": [1.5]})
    text = json.dumps(body, allow_nan=False)  # NaN would make invalid JSON
    parsed = json.loads(text)
    assert parsed.keys() >= REQUIRED_KEYS
    assert parsed["idle_rss_mb"] is None
    assert parsed["budgets_met"]["idle_rss_mb"] is False
    assert parsed["all_budgets_met"] is False
    assert parsed["budgets"]["item_read_ratio"] == {"limit": 0.6, "kind": "min"}
    assert parsed["details"]["fixed_rps"] == pytest.approx(1234.5679)


def test_the_table_names_every_budget_and_marks_a_miss() -> None:
    console = Console(record=True, width=200)
    print_table(report({**PASSING, "cold_start_s": 9.0}, {"fixed_rps": 1000.0}), console)
    text = console.export_text()
    for key in REQUIRED_KEYS:
        assert key in text
    assert "NO" in text


def test_the_table_shows_each_level_and_gunicorn_beside() -> None:
    figures = read_figures(
        [
            *level(64, [(1200, 2000)] * 3),
            *level(256, [(550, 1000), (650, 1000)]),
            run("gunicorn", 256, 0, 2222),
        ]
    )
    details = {key: value for key, value in figures.items() if key not in REQUIRED_KEYS}
    console = Console(record=True, width=250)
    print_table(report(figures, {**details, "gunicorn_workers": 2}), console)
    text = console.export_text()
    assert "0.6-0.6 (3)" in text
    assert "0.55-0.65 (2) undecided" in text  # either side of the 0.6 floor
    assert "gunicorn, 2 workers: req/s" in text
    assert "2,222" in text


def test_the_request_stream_repeats_for_a_seed_and_stays_in_range() -> None:
    first = list(islice(request_stream("h", 10, 7), 50))
    again = list(islice(request_stream("h", 10, 7), 50))
    assert first == again
    ids = {int(line.split(b" ")[1].rsplit(b"/", 1)[1]) for line in first}
    assert ids <= set(range(1, 11))
    assert len(ids) > 1
    assert all(line.endswith(b"\r\n\r\n") for line in first)

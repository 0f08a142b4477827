"""The pure part of ``leakproof bench``: percentiles, medians, the budgets and their verdict.

No I/O here, so every rule that decides a pass or a fail is unit-tested
(tests/load/bench/test_bench.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values: the run produced no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


@dataclass(frozen=True)
class Budget:
    key: str
    limit: float
    kind: Literal["min", "max"]  # min: the figure must reach the limit; max: stay within it
    what: str

    def met(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        return value >= self.limit if self.kind == "min" else value <= self.limit

    def describe(self) -> str:
        return f"{'≥' if self.kind == 'min' else '≤'} {self.limit:g}"


# the concurrency levels of the item read, and the two the throughput budget compares
FULL_LEVELS = (16, 64, 256)
QUICK_LEVELS = (64, 256)
SATURATED, OVERLOADED = 64, 256
SLOW_S = 1.0  # no response slower than this at the overloaded level

# The budgets (docs/bench.md, "The budgets"), in the order the table shows them.
BUDGETS: tuple[Budget, ...] = (
    Budget(
        "item_read_ratio",
        0.6,
        "min",
        "GET /items/{id} req/s over the raw asyncpg endpoint's, the lowest level's median round",
    ),
    Budget(
        "item_read_p99_over_p50",
        3.0,
        "max",
        "GET /items/{id} p99 latency over p50, the highest of the levels",
    ),
    Budget(
        "item_read_c256_over_c64",
        0.9,
        "min",
        f"GET /items/{{id}} req/s at {OVERLOADED} connections over req/s at {SATURATED}",
    ),
    Budget(
        "item_read_over_1s_c256",
        0.0,
        "max",
        f"GET /items/{{id}} responses slower than {SLOW_S:g} s at {OVERLOADED} connections",
    ),
    Budget("export_peak_rss_mb", 16.0, "max", "export of 1M rows: peak RSS above idle (MB)"),
    Budget("export_csv_ratio", 0.50, "min", "CSV export throughput over psql \\copy's"),
    Budget("idle_rss_mb", 90.0, "max", "idle worker RSS (MB)"),
    Budget("cold_start_s", 3.0, "max", "process start to /health/ready answering 200 (s)"),
)
READ_RATIO_FLOOR = next(b.limit for b in BUDGETS if b.key == "item_read_ratio")


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not a positive number."""
    if not denominator > 0:
        return math.nan
    return numerator / denominator


def evaluate(figures: Mapping[str, float | None]) -> dict[str, bool]:
    """Each budget's verdict; a missing or NaN figure fails its budget (nothing passes unseen)."""
    return {budget.key: budget.met(figures.get(budget.key)) for budget in BUDGETS}


def missed(verdicts: Mapping[str, bool]) -> list[str]:
    return [key for key, met in verdicts.items() if not met]


def summarise_latencies(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies_ms, 50),
        "p90_ms": percentile(latencies_ms, 90),
        "p99_ms": percentile(latencies_ms, 99),
        "max_ms": max(latencies_ms),
    }


@dataclass(frozen=True)
class ReadRun:
    """One timed load run against one server at one concurrency (the generator's figures)."""

    target: str  # "fixed", "raw" or "gunicorn" (the fixed build, several workers)
    connections: int
    round: int  # runs of one round and level are paired: fixed and raw back to back
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    generator_cpu: float  # share of one core the generator used
    server_cpu_us: float = math.nan  # the server's CPU time per request it answered
    shed: int = 0  # 503s with Retry-After
    over_1s: int = 0  # responses slower than 1 s
    over_2s: int = 0


def _median_of(runs: Sequence[ReadRun], field: str) -> float:
    values = [float(getattr(run, field)) for run in runs]
    return median(values) if values else math.nan


def _target_figures(runs: Sequence[ReadRun], prefix: str) -> dict[str, float]:
    """Medians over the rounds of one target at one level; the slow and shed counts summed."""
    return {
        f"{prefix}_rps": _median_of(runs, "rps"),
        f"{prefix}_p50_ms": _median_of(runs, "p50_ms"),
        f"{prefix}_p99_ms": _median_of(runs, "p99_ms"),
        f"{prefix}_cpu_us_per_request": _median_of(runs, "server_cpu_us"),
        f"{prefix}_over_1s": float(sum(run.over_1s for run in runs)) if runs else math.nan,
        f"{prefix}_over_2s": float(sum(run.over_2s for run in runs)) if runs else math.nan,
        f"{prefix}_shed": float(sum(run.shed for run in runs)) if runs else math.nan,
        f"{prefix}_errors": float(sum(run.errors for run in runs)) if runs else math.nan,
    }


def round_ratios(runs: Sequence[ReadRun], connections: int) -> list[float]:
    """Fixed over raw req/s of each round at one level: the two ran back to back, so a round
    shares its machine's mood, and the median of these is steadier than a ratio of medians."""
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        if run.connections == connections and run.target in {"fixed", "raw"}:
            by_round.setdefault(run.round, {})[run.target] = run.rps
    return [
        ratio(pair["fixed"], pair["raw"])
        for _, pair in sorted(by_round.items())
        if {"fixed", "raw"} <= pair.keys()
    ]


def throughput_ratios(runs: Sequence[ReadRun], high: int, low: int) -> list[float]:
    """The fixed build's req/s at ``high`` connections over ``low`` in each round: every round
    runs every level, so the two levels of a round met the same machine."""
    by_round: dict[int, dict[int, float]] = {}
    for run in runs:
        if run.target == "fixed" and run.connections in {high, low}:
            by_round.setdefault(run.round, {})[run.connections] = run.rps
    return [
        ratio(levels[high], levels[low])
        for _, levels in sorted(by_round.items())
        if {high, low} <= levels.keys()
    ]


def level_figures(runs: Sequence[ReadRun], connections: int) -> dict[str, Any]:
    """One level's figures: the per-round ratios (min, median, max), both builds' medians."""
    at_level = [run for run in runs if run.connections == connections]
    ratios = round_ratios(runs, connections)
    fixed = [run for run in at_level if run.target == "fixed"]
    figures: dict[str, Any] = {
        "connections": connections,
        "rounds": len(ratios),
        "ratio_median": median(ratios) if ratios else math.nan,
        "ratio_min": min(ratios, default=math.nan),
        "ratio_max": max(ratios, default=math.nan),
        # every round on one side of the floor: another run of the same length would most
        # likely judge the same way
        "ratio_decided": bool(ratios)
        and (min(ratios) >= READ_RATIO_FLOOR or max(ratios) < READ_RATIO_FLOOR),
        "ratios": ratios,
        **_target_figures(fixed, "fixed"),
        **_target_figures([run for run in at_level if run.target == "raw"], "raw"),
    }
    figures["p99_over_p50"] = ratio(figures["fixed_p99_ms"], figures["fixed_p50_ms"])
    return figures


def gunicorn_figures(runs: Sequence[ReadRun]) -> list[dict[str, Any]]:
    """The fixed build under gunicorn, per level (reported beside the single worker)."""
    levels = sorted({run.connections for run in runs if run.target == "gunicorn"})
    rows = []
    for connections in levels:
        at_level = [r for r in runs if r.target == "gunicorn" and r.connections == connections]
        row: dict[str, Any] = {"connections": connections, "rounds": len(at_level)}
        row.update(_target_figures(at_level, "gunicorn"))
        rows.append(row)
    return rows


def read_figures(runs: Sequence[ReadRun]) -> dict[str, Any]:
    """The read budgets over every level measured, each level's figures, and the figures of
    the saturated level under their historical names (fixed_rps, raw_rps ...)."""
    levels = sorted({run.connections for run in runs if run.target in {"fixed", "raw"}})
    per_level = {connections: level_figures(runs, connections) for connections in levels}
    medians = [level["ratio_median"] for level in per_level.values()]
    spreads = [level["p99_over_p50"] for level in per_level.values()]
    saturated = per_level.get(SATURATED, {})
    overloaded = per_level.get(OVERLOADED, {})
    level_ratios = throughput_ratios(runs, OVERLOADED, SATURATED)
    figures: dict[str, Any] = {
        # NaN anywhere (a level with no round pair) fails the budget rather than hiding
        "item_read_ratio": min(medians, key=_nan_first) if medians else math.nan,
        "item_read_p99_over_p50": max(spreads, key=_nan_last) if spreads else math.nan,
        "item_read_c256_over_c64": median(level_ratios) if level_ratios else math.nan,
        "item_read_c256_over_c64_min": min(level_ratios, default=math.nan),
        "item_read_c256_over_c64_max": max(level_ratios, default=math.nan),
        "item_read_over_1s_c256": overloaded.get("fixed_over_1s", math.nan),
        "generator_cpu_max": max((run.generator_cpu for run in runs), default=math.nan),
        "read_levels": list(per_level.values()),
    }
    for connections, level in per_level.items():
        figures[f"item_read_ratio_c{connections}"] = level["ratio_median"]
        figures[f"item_read_p99_over_p50_c{connections}"] = level["p99_over_p50"]
    for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request"):
        for target in ("fixed", "raw"):
            figures[f"{target}_{key}"] = saturated.get(f"{target}_{key}", math.nan)
    gunicorn = gunicorn_figures(runs)
    if gunicorn:
        figures["gunicorn_levels"] = gunicorn
    return figures


def _nan_first(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _json_number(value: Any) -> Any:
    # JSON has no NaN: a figure that could not be measured is null
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, Mapping):
        return {key: _json_number(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_number(item) for item in value]
    return value


def report(figures: Mapping[str, Any], details: Mapping[str, Any]) -> dict[str, Any]:
    """The one JSON object ``--json`` prints: the budget figures at the top level, the budgets,
    their verdicts, and every raw figure under ``details``."""
    verdicts = evaluate(figures)
    body: dict[str, Any] = {budget.key: _json_number(figures.get(budget.key)) for budget in BUDGETS}
    body["budgets"] = {b.key: {"limit": b.limit, "kind": b.kind} for b in BUDGETS}
    body["budgets_met"] = verdicts
    body["all_budgets_met"] = all(verdicts.values())
    body["details"] = {key: _json_number(value) for key, value in details.items()}
    return body

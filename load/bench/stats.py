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


# The budgets (docs/bench.md, "The budgets"), in the order the table shows them.
BUDGETS: tuple[Budget, ...] = (
    Budget("item_read_ratio", 0.45, "min", "GET /items/{id} req/s over the raw asyncpg endpoint's"),
    Budget("item_read_p99_over_p50", 4.0, "max", "GET /items/{id} p99 latency over p50"),
    Budget("export_peak_rss_mb", 16.0, "max", "export of 1M rows: peak RSS above idle (MB)"),
    Budget("export_csv_ratio", 0.50, "min", "CSV export throughput over psql \\copy's"),
    Budget("idle_rss_mb", 90.0, "max", "idle worker RSS (MB)"),
    Budget("cold_start_s", 3.0, "max", "process start to /health/ready answering 200 (s)"),
)


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
    """One timed load run against one server (the generator's figures)."""

    target: str  # "fixed" or "raw"
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    generator_cpu: float  # share of one core the generator used
    server_cpu_us: float = math.nan  # the server's CPU time per request it answered


def read_figures(runs: Sequence[ReadRun]) -> dict[str, float]:
    """Medians over the alternating runs of each target, and the two read budgets."""

    def median_of(target: str, field: str) -> float:
        values = [float(getattr(run, field)) for run in runs if run.target == target]
        return median(values) if values else math.nan

    fixed_p50 = median_of("fixed", "p50_ms")
    fixed_p99 = median_of("fixed", "p99_ms")
    return {
        "item_read_ratio": ratio(median_of("fixed", "rps"), median_of("raw", "rps")),
        "item_read_p99_over_p50": ratio(fixed_p99, fixed_p50),
        "fixed_rps": median_of("fixed", "rps"),
        "fixed_p50_ms": fixed_p50,
        "fixed_p99_ms": fixed_p99,
        "raw_rps": median_of("raw", "rps"),
        "raw_p50_ms": median_of("raw", "p50_ms"),
        "raw_p99_ms": median_of("raw", "p99_ms"),
        "generator_cpu_max": max((run.generator_cpu for run in runs), default=math.nan),
        # CPU per request moves far less than req/s when other work shares the machine
        "fixed_cpu_us_per_request": median_of("fixed", "server_cpu_us"),
        "raw_cpu_us_per_request": median_of("raw", "server_cpu_us"),
    }


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

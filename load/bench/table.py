"""The terminal view of a ``leakproof bench`` report: budgets first, then the raw figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from load.bench.stats import BUDGETS

# raw figures worth a row, with their unit
DETAIL_ROWS = (
    ("fixed_rps", "fixed build GET /items/{id}", "req/s"),
    ("raw_rps", "raw asyncpg GET /items/{id}", "req/s"),
    ("fixed_p50_ms", "fixed build p50", "ms"),
    ("fixed_p99_ms", "fixed build p99", "ms"),
    ("raw_p50_ms", "raw asyncpg p50", "ms"),
    ("raw_p99_ms", "raw asyncpg p99", "ms"),
    ("fixed_cpu_us_per_request", "fixed build server CPU per request", "µs"),
    ("raw_cpu_us_per_request", "raw asyncpg server CPU per request", "µs"),
    ("generator_cpu_max", "load generator, busiest run", "cores"),
    ("cache_hit_ratio", "item cache hit ratio during reads", ""),
    ("export_ndjson_peak_rss_mb", "NDJSON export peak RSS above idle", "MB"),
    ("export_csv_peak_rss_mb", "CSV export peak RSS above idle", "MB"),
    ("export_ndjson_s", "NDJSON export of all rows", "s"),
    ("export_csv_s", "CSV export of all rows", "s"),
    ("psql_copy_s", "psql \\copy of the same query", "s"),
    ("export_csv_mb_s", "CSV export throughput", "MB/s"),
    ("idle_uss_mb", "idle worker USS", "MB"),
    ("fixed_rss_after_reads_mb", "fixed worker RSS after the read runs", "MB"),
    ("seed_s", "seeding (0 when reused)", "s"),
    ("wall_s", "this bench run", "s"),
    ("load_avg_before", "1-min load average before the run", ""),
)


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def print_table(body: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    budgets = Table(title="leakproof bench: budgets")
    for column in ("figure", "measured", "budget", "met"):
        budgets.add_column(column, justify="left" if column == "figure" else "right")
    for budget in BUDGETS:
        met = body["budgets_met"][budget.key]
        budgets.add_row(
            f"{budget.key}\n[dim]{budget.what}[/dim]",
            _number(body[budget.key]),
            budget.describe(),
            "[green]yes[/green]" if met else "[red]NO[/red]",
        )
    console.print(budgets)
    details = body["details"]
    figures = Table(title="raw figures (server, PostgreSQL and generator share 2 cores)")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    figures.add_column("unit")
    for key, label, unit in DETAIL_ROWS:
        if key in details:
            figures.add_row(label, _number(details[key]), unit)
    console.print(figures)
    # before the run our own processes add nothing: a load above one core is someone else's
    if (details.get("load_avg_before") or 0) > 1.0:
        console.print(
            f"[yellow]Load average {details['load_avg_before']:.1f} before the run: other work "
            "shared these cores, so throughput and latency are noisy. Rerun on a quiet "
            "machine.[/yellow]"
        )

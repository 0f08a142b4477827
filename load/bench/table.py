"""The terminal view of a ``leakproof bench`` report: budgets first, then the raw figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from load.bench.stats import BUDGETS

# raw figures worth a row, with their unit
DETAIL_ROWS = (
    ("generator_cpu_max", "load generator, busiest run", "cores"),
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


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _count(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def read_levels_table(levels: list[Mapping[str, Any]]) -> Table:
    """GET /items/{id} per level: both builds, the per-round ratios, the tail."""
    table = Table(title="GET /items/{id}, cache off: fixed build against the raw reference")
    columns = (
        "connections", "fixed req/s", "raw req/s", "ratio median (min-max, rounds)",
        "fixed p50 / p99 ms", "raw p50 / p99 ms", "fixed > 1 s / > 2 s", "shed",
        "CPU/request fixed / raw µs",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for level in levels:
        verdict = "" if level["ratio_decided"] else " [yellow]undecided[/yellow]"
        table.add_row(
            str(level["connections"]),
            _count(level["fixed_rps"]),
            _count(level["raw_rps"]),
            f"{_number(level['ratio_median'])} ({_number(level['ratio_min'])}-"
            f"{_number(level['ratio_max'])}, {level['rounds']}){verdict}",
            f"{_ms(level['fixed_p50_ms'])} / {_ms(level['fixed_p99_ms'])}",
            f"{_ms(level['raw_p50_ms'])} / {_ms(level['raw_p99_ms'])}",
            f"{_count(level['fixed_over_1s'])} / {_count(level['fixed_over_2s'])}",
            _count(level["fixed_shed"]),
            f"{_count(level['fixed_cpu_us_per_request'])} / "
            f"{_count(level['raw_cpu_us_per_request'])}",
        )
    table.caption = (
        "ratio: fixed over raw req/s of each round (the two back to back); undecided: the rounds "
        "fall on both sides of the budget's floor, so another run may judge otherwise"
    )
    return table


def gunicorn_table(levels: list[Mapping[str, Any]], workers: Any) -> Table:
    table = Table(title=f"the fixed build under gunicorn, {workers} workers, cache off")
    for column in ("connections", "req/s", "p50 / p99 ms", "> 1 s / > 2 s", "shed", "rounds"):
        table.add_column(column, justify="right")
    for level in levels:
        table.add_row(
            str(level["connections"]),
            _count(level["gunicorn_rps"]),
            f"{_ms(level['gunicorn_p50_ms'])} / {_ms(level['gunicorn_p99_ms'])}",
            f"{_count(level['gunicorn_over_1s'])} / {_count(level['gunicorn_over_2s'])}",
            _count(level["gunicorn_shed"]),
            str(level["rounds"]),
        )
    return table


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
    if details.get("read_levels"):
        console.print(read_levels_table(details["read_levels"]))
    if details.get("gunicorn_levels"):
        console.print(gunicorn_table(details["gunicorn_levels"], details.get("gunicorn_workers")))
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

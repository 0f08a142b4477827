"""The terminal view of a ``leakproof bench`` report: budgets first, then the raw figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from load.bench.stats import BUDGETS

# raw figures worth a row, with their unit
DETAIL_ROWS = (
    ("item_read_c256_over_c64_min", "c256 over c64 req/s, lowest round", ""),
    ("item_read_c256_over_c64_max", "c256 over c64 req/s, highest round", ""),
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


def _pair(first: str, second: str) -> str:
    return f"{first} / {second}"


# the rows of the read table: a label, and how to show a level's figures (None: not measured)
READ_ROWS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("fixed build req/s", lambda lv: _count(lv["fixed_rps"])),
    ("raw reference req/s", lambda lv: _count(lv["raw_rps"])),
    ("ratio, median of the rounds", lambda lv: _number(lv["ratio_median"])),
    (
        "ratio, lowest-highest round (rounds)",
        lambda lv: (
            f"{_number(lv['ratio_min'])}-{_number(lv['ratio_max'])} ({lv['rounds']})"
            + ("" if lv["ratio_decided"] else " undecided")
        ),
    ),
    ("fixed p50 / p99 ms", lambda lv: _pair(_ms(lv["fixed_p50_ms"]), _ms(lv["fixed_p99_ms"]))),
    ("fixed p99 / p50", lambda lv: _number(lv["p99_over_p50"])),
    (
        "fixed > 1 s / > 2 s",
        lambda lv: _pair(_count(lv["fixed_over_1s"]), _count(lv["fixed_over_2s"])),
    ),
    ("fixed shed (503)", lambda lv: _count(lv["fixed_shed"])),
    ("raw p50 / p99 ms", lambda lv: _pair(_ms(lv["raw_p50_ms"]), _ms(lv["raw_p99_ms"]))),
    (
        "CPU per request, fixed / raw µs",
        lambda lv: _pair(
            _count(lv["fixed_cpu_us_per_request"]), _count(lv["raw_cpu_us_per_request"])
        ),
    ),
)
GUNICORN_ROWS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("gunicorn req/s", lambda lv: _count(lv["gunicorn_rps"])),
    (
        "gunicorn p50 / p99 ms",
        lambda lv: _pair(_ms(lv["gunicorn_p50_ms"]), _ms(lv["gunicorn_p99_ms"])),
    ),
    (
        "gunicorn > 1 s / > 2 s",
        lambda lv: _pair(_count(lv["gunicorn_over_1s"]), _count(lv["gunicorn_over_2s"])),
    ),
    ("gunicorn shed (503)", lambda lv: _count(lv["gunicorn_shed"])),
)


def read_levels_table(details: Mapping[str, Any]) -> Table:
    """GET /items/{id}, one column per concurrency level: both builds, the per-round ratios, the
    tail; the fixed build under gunicorn below, when it was measured."""
    levels = {level["connections"]: level for level in details.get("read_levels", [])}
    gunicorn = {level["connections"]: level for level in details.get("gunicorn_levels", [])}
    columns = sorted(levels.keys() | gunicorn.keys())
    table = Table(title="GET /items/{id}, cache off, by concurrent connections")
    table.add_column("figure")
    for connections in columns:
        table.add_column(f"c{connections}", justify="right")
    for label, show in READ_ROWS:
        table.add_row(label, *(show(levels[c]) if c in levels else "" for c in columns))
    if gunicorn:
        workers = details.get("gunicorn_workers")
        table.add_section()
        for label, show in GUNICORN_ROWS:
            label = label.replace("gunicorn", f"gunicorn, {workers} workers:", 1)
            table.add_row(label, *(show(gunicorn[c]) if c in gunicorn else "" for c in columns))
    table.caption = (
        "ratio: fixed over raw req/s of each round (the two ran back to back); undecided: the "
        "rounds fall on both sides of the budget's floor, so another run may judge otherwise; "
        'how far whole runs differ on a quiet machine: docs/bench.md, "On a quiet machine"'
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
    if details.get("read_levels") or details.get("gunicorn_levels"):
        console.print(read_levels_table(details))
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

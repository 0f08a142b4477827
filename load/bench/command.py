"""``leakproof bench``: the fixed build's budgets, measured in one run on this machine.

1. 1,000,000 items, seeded inside PostgreSQL (reused when already there);
2. cold start to /health/ready and the idle worker's RSS/USS;
3. both exports of every row, with the worker's RSS sampled at 50 Hz, and psql's own \\copy;
4. GET /items/{id} over random ids, cache off, on the fixed build and on a raw-asyncpg
   reference at 16, 64 and 256 connections (--quick: 64 and 256), the two back to back in each
   round, alternating which goes first; then the fixed build under gunicorn (full run only).
The budgets and their verdicts are in load/bench/stats.py; the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.dev import embedded_postgres, migrations
from app.settings import ENV_PREFIX, Settings, SettingsError, load_settings
from load.bench import accuracy
from load.bench import data as bench_data
from load.bench import servers as bench_servers
from load.bench.stats import (
    BUDGETS,
    FULL_LEVELS,
    QUICK_LEVELS,
    ReadRun,
    median,
    missed,
    ratio,
    read_figures,
    report,
)
from load.bench.table import print_table
from load.options import scenario_list

ITEM_ID_PROBES = (1, 500_000, 1_000_000)


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...]  # concurrent connections of the item read
    rounds: int  # per level: a raw and a fixed run back to back, alternating which goes first
    duration_s: float
    warmup_s: float
    export_reps: int  # each export format (and psql) this many times
    cold_starts: int
    gunicorn_workers: int  # 0: no gunicorn runs
    gunicorn_rounds: int


# Quick differs in its levels, exports and starts, never in the rounds or length of a level's
# runs: its read verdicts are as steady as the full run's (docs/bench.md, "How steady").
ROUNDS, DURATION_S, WARMUP_S = 5, 4.0, 1.0
FULL = Plan(
    levels=FULL_LEVELS, rounds=ROUNDS, duration_s=DURATION_S, warmup_s=WARMUP_S,
    export_reps=3, cold_starts=3, gunicorn_workers=2, gunicorn_rounds=3,
)  # fmt: skip
QUICK = Plan(
    levels=QUICK_LEVELS, rounds=ROUNDS, duration_s=DURATION_S, warmup_s=WARMUP_S,
    export_reps=1, cold_starts=1, gunicorn_workers=0, gunicorn_rounds=0,
)  # fmt: skip


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_postgres.start(settings.data_dir, bench_data.BENCH_DATABASE)


def server_env(url: str, settings: Settings) -> dict[str, str]:
    return {
        f"{ENV_PREFIX}DATABASE_URL": url,
        f"{ENV_PREFIX}LOG_LEVEL": "warning",
        f"{ENV_PREFIX}DB_POOL_SIZE": str(settings.db_pool_size),
        # cache off: every read reaches PostgreSQL, as every read of the raw reference does
        f"{ENV_PREFIX}CACHE_MAX_ENTRIES": "0",
        # gunicorn's workers are not recycled in the middle of a timed run
        f"{ENV_PREFIX}MAX_REQUESTS": "0",
    }


def start_and_settle(env: dict[str, str]) -> tuple[bench_servers.Server, float, float]:
    """A fresh fixed worker, a few requests, a short rest; (server, idle RSS, idle USS)."""
    server = bench_servers.start_server("fixed", "app.main:app", env)
    for item_id in ITEM_ID_PROBES * 3:
        server.get(f"/items/{item_id}")
    server.get("/health/ready")
    time.sleep(0.5)
    rss, uss = server.memory_mb()
    return server, rss, uss


def measure_exports(
    server: bench_servers.Server, url: str, idle_rss: float, reps: int
) -> dict[str, Any]:
    peaks: dict[str, float] = {"ndjson": 0.0, "csv": 0.0}
    seconds: dict[str, list[float]] = {"ndjson": [], "csv": [], "psql": []}
    sizes: dict[str, int] = {}
    for _ in range(reps):
        for fmt in ("ndjson", "csv"):
            with bench_servers.RssSampler(server.process.pid) as sampler:
                path = f"/items/export?format={fmt}"
                sizes[fmt], elapsed = bench_servers.download(server.port, path)
            seconds[fmt].append(elapsed)
            peaks[fmt] = max(peaks[fmt], sampler.peak_mb - idle_rss)
            say(f"export {fmt}: {elapsed:.2f} s, peak +{sampler.peak_mb - idle_rss:.1f} MB")
        seconds["psql"].append(bench_data.psql_copy_seconds(url))
        say(f"psql \\copy: {seconds['psql'][-1]:.2f} s")
    csv_s, psql_s, ndjson_s = (median(seconds[key]) for key in ("csv", "psql", "ndjson"))
    return {
        "export_peak_rss_mb": max(peaks.values()),
        "export_csv_ratio": ratio(psql_s, csv_s),
        "export_ndjson_peak_rss_mb": peaks["ndjson"],
        "export_csv_peak_rss_mb": peaks["csv"],
        "export_csv_s": csv_s,
        "export_csv_mb_s": sizes["csv"] / bench_servers.MB / csv_s,
        "export_ndjson_s": ndjson_s,
        "export_ndjson_mb_s": sizes["ndjson"] / bench_servers.MB / ndjson_s,
        "psql_copy_s": psql_s,
    }


def load_run(server: bench_servers.Server, plan: Plan, connections: int, number: int) -> ReadRun:
    command = [
        sys.executable, "-m", "load.bench.generator", "--port", str(server.port),
        "--connections", str(connections), "--duration", str(plan.duration_s),
        "--warmup", str(plan.warmup_s), "--max-id", str(bench_data.SEED_ROWS),
        "--seed", str(connections * 1000 + number + 1),
    ]  # fmt: skip
    cpu_before = server.cpu_s()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    cpu_s = server.cpu_s() - cpu_before
    figures = json.loads(done.stdout)
    if not figures["requests"]:
        raise RuntimeError(f"no request to the {server.name} server completed: {figures}")
    run = ReadRun(
        server.name, connections, number, figures["rps"], figures["p50_ms"], figures["p99_ms"],
        figures["requests"], figures["errors"], figures["generator_cpu"],
        cpu_s / figures["requests_total"] * 1e6, figures["shed"], figures["over_1s"],
        figures["over_2s"],
    )  # fmt: skip
    say(
        f"c{connections} {run.target}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, {run.over_1s} over 1 s, {run.shed} shed, {run.errors} errors, "
        f"{run.server_cpu_us:.0f} µs CPU/request, generator {run.generator_cpu:.0%} of a core"
    )
    return run


def measure_reads(
    fixed: bench_servers.Server, raw: bench_servers.Server, plan: Plan
) -> list[ReadRun]:
    runs: list[ReadRun] = []
    # every level in every round: the levels' figures share the machine's mood as the two
    # builds' do, so the ratio of two levels is as steady as the ratio of two builds
    for number in range(plan.rounds):
        for connections in plan.levels:
            # ABBA: neither build always runs first (on a warmer cache or a cooler machine)
            pair = (raw, fixed) if number % 2 == 0 else (fixed, raw)
            runs.extend(load_run(server, plan, connections, number) for server in pair)
    return runs


def measure_gunicorn(env: dict[str, str], plan: Plan) -> list[ReadRun]:
    """The fixed build under gunicorn with ``plan.gunicorn_workers`` workers, at every level."""
    if not plan.gunicorn_workers:
        return []
    server = bench_servers.start_server(
        "gunicorn", "app.main:app", env, workers=plan.gunicorn_workers
    )
    try:
        return [
            load_run(server, plan, connections, number)
            for number in range(plan.gunicorn_rounds)
            for connections in plan.levels
        ]
    finally:
        server.stop()


Figures = dict[str, Any]


def run_bench(plan: Plan, settings: Settings, *, reseed: bool) -> tuple[Figures, Figures]:
    url = database_url(settings)
    migrations.upgrade(url)
    # the embedded bench database is the bench's own; a configured one is replaced only on request
    replace = reseed or settings.database_url is None
    seeded, seed_s = asyncio.run(bench_data.seed(url, replace=replace))
    say(f"{'seeded' if seeded else 'reusing'} {bench_data.SEED_ROWS:,} items ({seed_s:.1f} s)")
    env = server_env(url, settings)
    details: Figures = {"quick": plan is QUICK, "rows": bench_data.SEED_ROWS, "seed_s": seed_s}
    starts: list[float] = []
    for _ in range(plan.cold_starts - 1):
        server, _rss, _uss = start_and_settle(env)
        starts.append(server.started_s)
        server.stop()
    fixed, idle_rss, idle_uss = start_and_settle(env)
    starts.append(fixed.started_s)
    raw: bench_servers.Server | None = None
    try:
        say(f"cold start {median(starts):.2f} s, idle RSS {idle_rss:.1f} MB, USS {idle_uss:.1f} MB")
        figures: dict[str, Any] = {
            "cold_start_s": median(starts), "idle_rss_mb": idle_rss, "idle_uss_mb": idle_uss,
        }  # fmt: skip
        figures.update(measure_exports(fixed, url, idle_rss, plan.export_reps))
        raw = bench_servers.start_server("raw", "load.bench.raw:app", env)
        runs = measure_reads(fixed, raw, plan)
        details["fixed_rss_after_reads_mb"] = json.loads(fixed.get("/debug/stats"))["rss_mb"]
    finally:
        fixed.stop()
        if raw is not None:
            raw.stop()
    # alone on the machine: the single-worker servers are gone
    runs.extend(measure_gunicorn(env, plan))
    figures.update(read_figures(runs))
    details["read_runs"] = [run.__dict__ for run in runs]
    budget_keys = {budget.key for budget in BUDGETS}
    details.update({key: value for key, value in figures.items() if key not in budget_keys})
    details.update(
        levels=list(plan.levels), duration_s=plan.duration_s, rounds=plan.rounds,
        cold_starts=starts, export_reps=plan.export_reps,
        gunicorn_workers=plan.gunicorn_workers,
    )  # fmt: skip
    return figures, details


def run(args: argparse.Namespace) -> int:
    if args.verdicts:
        args.lab_args = []
        return accuracy.run_verdicts(args)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"leakproof bench: {error}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        figures, details = run_bench(QUICK if args.quick else FULL, settings, reseed=args.reseed)
    except bench_data.SeedRefused as error:
        print(f"leakproof bench: {error}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.CalledProcessError) as error:
        # a server that would not start, or a generator or psql that failed: its own output is
        # above; say which step broke rather than show a traceback
        print(f"leakproof bench: stopped: {error}", file=sys.stderr)
        return 2
    details["wall_s"] = time.perf_counter() - began
    # the figures are only as good as the machine was quiet: other work on these cores shows here
    details["load_avg_before"] = load_before
    details["cores"] = os.cpu_count()
    body = report(figures, details)
    if args.json:
        print(json.dumps(body, indent=2, allow_nan=False))
    else:
        print_table(body)
    failed = missed(body["budgets_met"])
    if failed:
        print(f"leakproof bench: budgets missed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def add_command(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench", help="measure the fixed build against its budgets (speed, memory, start-up)"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="two read levels (64, 256) instead of three, no gunicorn, one export",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--reseed", action="store_true",
        help="with a configured database URL: replace the items table's rows with the bench's",
    )  # fmt: skip
    parser.add_argument(
        "--verdicts", action="store_true",
        help="the lab's accuracy instead: each twin scenario alone against the fixed build, "
        "--runs times, with compare --quick; prints false alarms, misses and what was named",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=5, help="with --verdicts: runs per scenario")
    parser.add_argument(
        "--scenarios", type=scenario_list, help="with --verdicts: these scenarios only"
    )
    parser.add_argument("--out", type=Path, help="with --verdicts: the folder for every report")
    parser.set_defaults(run=run)

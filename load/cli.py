"""``leakproof compare`` and ``leakproof soak``: the lab's commands.

compare: the fixed build, then the leaky twin, under the same load and settings, one after the
other (side by side they would split the 2 CPUs and the twin's exhaustion of the database could
spill onto the fixed build), then the report and the verdict as the exit code.
soak: the same load and sampling on one build, judged alone: flat or not.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from app.settings import MIN_WORKER_MEMORY_MB, load_settings
from load.judge.verdict import Verdict, judge_compare, judge_soak
from load.report import memray_capture, plots, report
from load.report.console import Progress, print_result
from load.report.summary import build_summary, pool_limit, run_settings
from load.run import database
from load.run.config import DEFAULT, QUICK, SCENARIOS, LabConfig, parse_scenarios, warmup_for
from load.run.receiver import webhook_receiver
from load.run.runner import BuildRun, run_build
from load.run.servers import Children

EXIT_FAILED_VERDICT = 1
EXIT_CANNOT_RUN = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INCONCLUSIVE = 3  # the evidence stayed unclear up to --max-duration: neither pass nor fail
FIXED_USERS = 5  # the locustfile's one-each users: exporter, slow reader, aborter, probe, notifier
MIN_USERS = FIXED_USERS + 2


def _scenarios(text: str) -> tuple[str, ...]:
    try:
        return parse_scenarios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _max_memory(text: str) -> int | str:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < MIN_WORKER_MEMORY_MB:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not auto or a number of MB of at least {MIN_WORKER_MEMORY_MB} "
            "(an idle worker holds more)"
        )
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 5:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too short: give at least 5 s, to leave time after warm-up"
        )
    return value


def _seconds_or_zero(text: str) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="a ~30 s first look (CI adds --duration 30)"
    )
    parser.add_argument(
        "--duration",
        type=_seconds,
        help=f"seconds of load per build (default {DEFAULT.duration_s:g}, "
        f"--quick {QUICK.duration_s:g})",
    )
    parser.add_argument(
        "--requests",
        type=_positive_int,
        help="stop a build's load once this many requests are done (--duration still caps it)",
    )
    parser.add_argument(
        "--users",
        type=_positive_int,
        help=f"concurrent locust users (default {DEFAULT.users}; 4 are stream users and a probe)",
    )
    parser.add_argument(
        "--server",
        choices=["uvicorn", "gunicorn"],
        help="uvicorn: one process (default); gunicorn: --workers processes",
    )
    parser.add_argument(
        "--workers", type=_positive_int, help=f"gunicorn workers (default {DEFAULT.workers})"
    )
    parser.add_argument(
        "--max-requests",
        type=_non_negative_int,
        help="gunicorn recycles a worker after this many requests (shows the saw tooth)",
    )
    parser.add_argument(
        "--max-memory",
        type=_max_memory,
        help="gunicorn recycles a worker past this RSS in MB, draining it; auto: from "
        "--memory-limit as in a container (without --max-requests, memory alone decides)",
    )
    parser.add_argument(
        "--memory-limit",
        type=_positive_int,
        help="the container memory limit in MB that --max-memory auto shares among workers",
    )
    parser.add_argument(
        "--seed-items",
        type=_positive_int,
        help=f"items in the table during the run (default {DEFAULT.seed_items})",
    )
    parser.add_argument(
        "--item-bytes",
        type=_positive_int,
        help="pad each seeded item's description to this many bytes: a leak that keeps "
        "items grows faster (exports and pages weigh more too)",
    )
    parser.add_argument(
        "--warmup",
        type=_seconds_or_zero,
        help="seconds left out of the slope at the start (default: a quarter of --duration, "
        f"3 to 15 s; {DEFAULT.warmup_s:g} s by default, {QUICK.warmup_s:g} s with --quick)",
    )
    parser.add_argument(
        "--max-duration",
        type=_seconds,
        help="when a verdict is unclear at --duration, the load goes on in steps up to this "
        "(default 3 x --duration); then the verdict is INCONCLUSIVE (exit 3)",
    )
    parser.add_argument(
        "--no-attribution",
        action="store_true",
        help="no in-process probe: no heap window, no sites, no holders (and no tracing cost)",
    )
    parser.add_argument(
        "--memray",
        action="store_true",
        help="run the servers under memray (one capture per worker) and link its flamegraphs",
    )
    parser.add_argument("--out", type=Path, help="report folder (default reports/<timestamp>/)")


def add_compare_command(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="the fixed build against the leaky twin under the same load; report and verdict",
    )
    _add_load_options(parser)
    parser.add_argument(
        "--scenarios",
        type=_scenarios,
        help=f"the twin's leaks: all (default) or a comma list of {', '.join(SCENARIOS)}",
    )
    parser.set_defaults(run=run_compare)


def add_soak_command(commands: Any) -> None:
    parser = commands.add_parser(
        "soak", help="one build under the lab's load, judged alone: flat or not"
    )
    _add_load_options(parser)
    parser.add_argument(
        "--build",
        choices=["fixed", "leaky"],
        default="fixed",
        help="which build to soak (default fixed)",
    )
    parser.add_argument("--scenarios", type=_scenarios, help="the twin's leaks when --build leaky")
    parser.set_defaults(run=run_soak)


def config_from(args: argparse.Namespace) -> LabConfig:
    config = QUICK if args.quick else DEFAULT
    chosen = {
        "duration_s": args.duration,
        "requests": args.requests,
        "users": args.users,
        "server": args.server,
        "workers": args.workers,
        "max_requests": args.max_requests,
        "max_memory": args.max_memory,
        "memory_limit_mb": args.memory_limit,
        "seed_items": args.seed_items,
        "item_bytes": args.item_bytes,
        "scenarios": args.scenarios,
        "max_duration_s": args.max_duration,
    }
    config = replace(config, **{key: value for key, value in chosen.items() if value is not None})
    if args.duration is not None:
        config = replace(config, warmup_s=warmup_for(args.duration))
    if args.warmup is not None:
        config = replace(config, warmup_s=args.warmup)
    config = replace(config, attribution=not args.no_attribution, memray=args.memray)
    if config.max_duration_s is not None and config.max_duration_s < config.duration_s:
        raise ValueError(
            f"--max-duration ({config.max_duration_s:g} s) is shorter than --duration "
            f"({config.duration_s:g} s); give at least the duration"
        )
    if config.warmup_s >= config.duration_s - 2:
        raise ValueError(
            f"warm-up ({config.warmup_s:g} s) leaves no time to measure in "
            f"{config.duration_s:g} s; lengthen --duration or shorten --warmup"
        )
    if config.max_memory is not None and config.server != "gunicorn":
        raise ValueError("--max-memory recycles gunicorn workers: add --server gunicorn")
    if (config.max_memory == "auto") != (config.memory_limit_mb is not None):
        raise ValueError("--max-memory auto needs --memory-limit MB (and only it uses one)")
    out = args.out or Path("reports") / datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    return replace(config, out=out)


def run_compare(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ValueError as error:
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return run_lab("compare", ["fixed", "leaky"], config)


def run_soak(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ValueError as error:
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return run_lab("soak", [args.build], config)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (the lab stops what it started)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def twin_present() -> bool:
    try:
        return importlib.util.find_spec("app.leaky.main") is not None
    except ModuleNotFoundError:  # app/leaky itself is gone (a project started without the twin)
        return False


def run_lab(mode: str, builds: list[str], config: LabConfig) -> int:
    console = Console()
    if "leaky" in builds and not twin_present():
        print("leakproof: the leaky twin (app/leaky/main.py) is not in this checkout; "
              "run `leakproof soak` to judge the fixed build alone", file=sys.stderr)  # fmt: skip
        return EXIT_CANNOT_RUN
    if config.memray and not memray_capture.available():
        print(f"leakproof: {memray_capture.MISSING}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if config.users < MIN_USERS:
        print(
            f"leakproof: --users must be at least {MIN_USERS} "
            f"({FIXED_USERS} fixed users plus shoppers)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    settings = load_settings()
    config.out.mkdir(parents=True, exist_ok=True)
    headers = {}
    if settings.debug_token is not None:
        headers["X-Debug-Token"] = settings.debug_token.get_secret_value()
    started_at = datetime.now().isoformat(timespec="seconds")
    children = Children()
    progress = Progress(console, config.duration_s)
    runs: list[BuildRun] = []
    stack = ExitStack()
    try:
        url, where = database.lab_database_url(settings)
        stack.enter_context(webhook_receiver())  # POST /items/{id}/notify's receiver
        database.prepare(url)
        console.print(f"leakproof {mode}: {config.describe()}; PostgreSQL {where}")
        for build in builds:
            console.print(
                f"[bold]{build}[/]: seeding {config.seed_items} items, starting the server"
            )
            runs.append(
                run_build(
                    build, config, url, config.out, children, progress.show, headers,
                    pool_limit(config, settings),
                )
            )  # fmt: skip
            progress.done()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        # a server that would not start, a generator or a flamegraph that hung: the run could
        # not happen, which is not the verdict's FAIL
        progress.done()
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        with uninterrupted():  # a second Ctrl-C or TERM must not cut the cleanup short
            progress.done()
            children.stop_all()
            stack.close()
    summaries = {run.build: build_summary(run, config, settings) for run in runs}
    verdict: Verdict = (
        judge_compare(summaries["fixed"], summaries["leaky"])
        if mode == "compare"
        else judge_soak(builds[0], summaries[builds[0]])
    )
    summary = {
        "mode": mode,
        "started_at": started_at,
        "settings": run_settings(config, settings, where),
        "builds": summaries,
        "verdict": verdict.as_json(),
    }
    figures = plots.draw_all(runs, config.out)
    if config.server == "gunicorn":
        figures.append(plots.worker_memory(runs, config, config.out / "workers.png"))
    report.write_summary(summary, config.out)
    report.write_samples(runs, config.out)
    report.write_markdown(summary, figures, config.out)
    report.write_html(summary, figures, config.out)
    print_result(console, summary, str(config.out))
    if verdict.ok:
        return 0
    return EXIT_INCONCLUSIVE if verdict.outcome == "INCONCLUSIVE" else EXIT_FAILED_VERDICT

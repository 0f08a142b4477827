"""``leakproof soak --url URL``: a service the lab did not start (staging, a container, another
machine), driven by locust and judged from what it exposes.

The same load, judge, report and exit codes as a soak of a build the lab serves; what cannot be
seen from outside (no probe: no sites, no holders; no USS; no pg_stat_activity without
``--database-url``; per-worker memory only in prometheus multiprocess mode) is said in the
report, in summary.json (``not_seen``) and on the terminal.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy.engine import make_url

from app.settings import load_settings
from load.judge.verdict import judge_soak
from load.lab import (
    EXIT_CANNOT_RUN,
    EXIT_FAILED_VERDICT,
    EXIT_INCONCLUSIVE,
    FIXED_USERS,
    MIN_USERS,
    uninterrupted,
)
from load.options import config_from
from load.report import plots, report
from load.report.console import Progress, print_result
from load.report.summary import build_summary
from load.run.config import LabConfig
from load.run.locust_process import LOCUSTFILE
from load.run.remote import SERVICE, run_remote
from load.run.remote_sampling import RemoteSampler
from load.run.remote_target import DEBUG_TOKEN_ENV, Target, TargetError, check_target
from load.run.servers import Children

# the options that choose how the lab serves a build: they cannot apply to a running service
SERVING_OPTIONS = (
    ("server", "--server"), ("workers", "--workers"), ("max_requests", "--max-requests"),
    ("max_memory", "--max-memory"), ("memory_limit", "--memory-limit"), ("memray", "--memray"),
    ("no_attribution", "--no-attribution"), ("item_bytes", "--item-bytes"), ("build", "--build"),
    ("scenarios", "--scenarios"), ("app", "--app"), ("env", "--env"),
)  # fmt: skip
READ_NEXT = (
    "soak the service's code with `leakproof soak` (served by the lab, behind its probe), which "
    "tells an object leak from allocator retention and names the line"
)


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    """--url and --metrics-path; --locustfile and --database-url are soak's own options (with
    --url: the load, and the service's database whose connections are counted)."""
    parser.add_argument(
        "--url",
        help="a running service to drive and judge from what it exposes (staging, a container, "
        "another machine); the lab starts no server and no database",
    )
    parser.add_argument(
        "--metrics-path",
        default="/metrics",
        help="with --url: where the service serves Prometheus text (default /metrics)",
    )


def serving_options_given(args: argparse.Namespace) -> list[str]:
    given = [(flag, getattr(args, name, None)) for name, flag in SERVING_OPTIONS]
    # --env's default is an empty list; 0 is a value given (--max-requests 0)
    return [
        flag for flag, value in given if value is not None and value is not False and value != []
    ]


def run_remote_soak(args: argparse.Namespace) -> int:
    """Check everything that can be checked before any load; then the run, the report and the
    verdict as the exit code."""
    refused = serving_options_given(args)
    if refused:
        return _cannot_run(
            f"--url drives a service the lab did not start: {', '.join(refused)} choose how the "
            "lab serves a build and cannot apply to it; drop them, or soak without --url"
        )
    # locust runs in the project's folder: a relative path is the caller's
    locustfile: Path = args.locustfile.resolve() if args.locustfile else LOCUSTFILE
    if not locustfile.is_file():
        return _cannot_run(f"--locustfile {locustfile}: no such file; give a locust file's path")
    try:
        config = config_from(args)
    except ValueError as error:
        return _cannot_run(str(error))
    if locustfile == LOCUSTFILE and config.users < MIN_USERS:
        return _cannot_run(
            f"--users must be at least {MIN_USERS} ({FIXED_USERS} fixed users plus shoppers)"
        )
    try:
        target = check_target(args.url, args.metrics_path, args.database_url)
    except TargetError as error:
        return _cannot_run(str(error))
    return soak_target(target, config, locustfile)


def _cannot_run(message: str) -> int:
    print(f"leakproof: {message}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def soak_target(target: Target, config: LabConfig, locustfile: Path) -> int:
    console = Console()
    config.out.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now().isoformat(timespec="seconds")
    children = Children()
    progress = Progress(console, config.duration_s)
    console.print(f"leakproof soak: {describe_load(config)}; {target.url} (not started here)")
    try:
        run, sampler = run_remote(target, config, config.out, children, progress.show, locustfile)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        progress.done()
        return _cannot_run(str(error))
    finally:
        with uninterrupted():  # a second Ctrl-C or TERM must not cut the cleanup short
            progress.done()
            children.stop_all()
    build = service_summary(build_summary(run, config, load_settings()), sampler)
    verdict = judge_soak(SERVICE, build)
    not_seen = blind_spots(target, sampler)
    summary = {
        "mode": "soak",
        "started_at": started_at,
        "settings": remote_settings(target, config, locustfile),
        "builds": {SERVICE: build},
        "verdict": verdict.as_json(),
        "not_seen": not_seen,
    }
    figures = plots.draw_all([run], config.out)
    report.write_summary(summary, config.out)
    report.write_samples([run], config.out)
    report.write_markdown(summary, figures, config.out)
    report.write_html(summary, figures, config.out)
    print_result(console, summary, str(config.out))
    console.print("Not seen from outside:", highlight=False)
    for line in not_seen:
        console.print(f"  - {line}", highlight=False)
    if verdict.ok:
        return 0
    return EXIT_INCONCLUSIVE if verdict.outcome == "INCONCLUSIVE" else EXIT_FAILED_VERDICT


def describe_load(config: LabConfig) -> str:
    bound = f"{config.duration_s:g} s" + (
        f" or {config.requests} requests" if config.requests else ""
    )
    generator = (
        f", locust master + {config.locust_workers} workers" if config.locust_workers else ""
    )
    return f"{config.users} users, {bound}{generator}"


def service_summary(build: dict[str, Any], sampler: RemoteSampler) -> dict[str, Any]:
    """A build's summary as far as it holds from outside: the pool's cap is the service's own
    setting, the heap (when /debug/stats answered) is counted in gc objects, not blocks."""
    build["pool_limit"] = None
    if build["server_died"]:
        build["server_died_reason"] = "the service stopped answering its metrics during the run"
    build["heap_measure"] = "gc objects (/debug/stats)" if sampler.heap else None
    if sampler.heap:
        for key in ("kind_reasons", "extended"):
            build[key] = [reason.replace(" blocks", " gc objects") for reason in build[key]]
    if build["kind"] in ("memory-growth", "object-leak"):  # what only the probe tells
        build["read_next"] = READ_NEXT
    build["processes_seen"] = len(sampler.processes_seen)
    if len(sampler.uncollectable) > 1:
        build["gc_uncollectable_grew"] = sampler.uncollectable[-1] - sampler.uncollectable[0]
    return build


def blind_spots(target: Target, sampler: RemoteSampler) -> list[str]:
    """What this run could not see from where it stood, each in a line."""
    lines = [
        "no attribution: the probe runs only inside a server the lab starts, so no leak sites "
        "and no holders",
        "USS and anonymous memory: the slope is fitted on RSS as the metrics give it "
        "(file-backed pages included)",
    ]
    if target.database_url is None:
        lines.append(
            "pg_stat_activity: not counted from outside; give --database-url"
            + (
                " (the counts shown are the service's own, from /debug/stats)"
                if target.debug
                else ""
            )
        )
    if target.multiprocess:
        lines.append(
            f"per-worker USS, and the gunicorn arbiter: the metrics give each worker's RSS "
            f"(multiprocess mode, {target.workers} workers at the start), the workers that did "
            "not answer a scrape as of their last refresh"
        )
    else:
        seen = len(sampler.processes_seen)
        lines.append(
            "per-worker memory: each scrape describes the process that answered it; under "
            "several workers that is whichever worker the connection reached, unless the app "
            "serves its metrics in prometheus multiprocess mode"
            + (f" ({seen} processes answered during this run)" if seen > 1 else "")
        )
    if not target.debug:
        token = "" if os.environ.get(DEBUG_TOKEN_ENV) else f" (set {DEBUG_TOKEN_ENV} if it has one)"
        lines.append(
            f"heap and gc objects, threads: /debug/stats did not answer{token}; RSS growth "
            "cannot be told an object leak from allocator retention (kind memory-growth)"
        )
    else:
        lines.append(
            "the interpreter's heap blocks: the heap judged is /debug/stats' count of gc objects"
        )
    if not any(sample.fds is not None for sample in sampler.samples):
        lines.append("open fds: the metrics have no process_open_fds")
    lines.append(
        "the pool's cap (the service's setting): a pool pinned at its cap, or connections beyond "
        "it, are not judged"
    )
    return lines


def remote_settings(target: Target, config: LabConfig, locustfile: Path) -> dict[str, Any]:
    database = (
        make_url(target.database_url).render_as_string(hide_password=True)
        if target.database_url
        else None
    )
    return {
        "url": target.url,
        "metrics_path": target.metrics_path,
        "memory_gauge": target.memory_gauge,
        "multiprocess": target.multiprocess,
        "debug_stats": target.debug,
        "database": database,
        "locustfile": str(locustfile),
        "locust_workers": config.locust_workers,
        "users": config.users,
        "duration_s": config.duration_s,
        "max_duration_s": config.load_cap_s,
        "requests": config.requests,
        "warmup_s": config.warmup_s,
        "seed_items": config.seed_items,
        "out": str(config.out),
        "cpus": os.cpu_count(),
        "shared_cpus_note": (
            f"the load generator ran on this machine's {os.cpu_count()} CPUs; the service ran "
            "where it runs: request rates and latencies include the way between them"
        ),
    }

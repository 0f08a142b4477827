"""One lab run, start to end: check it can run, prepare the database, run each build, then
judge, write the report and return the exit code.

Everything it starts is stopped in a ``finally`` that a second Ctrl-C cannot cut short.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

from rich.console import Console

from app.settings import load_settings
from load.judge.verdict import Verdict, judge_compare, judge_soak
from load.report import memray_capture, plots, report
from load.report.console import Progress, print_result
from load.report.summary import build_summary, pool_limit, run_settings
from load.run import database
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.receiver import webhook_receiver
from load.run.runner import run_build
from load.run.servers import Children

EXIT_FAILED_VERDICT = 1
EXIT_CANNOT_RUN = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INCONCLUSIVE = 3  # the evidence stayed unclear up to --max-duration: neither pass nor fail
FIXED_USERS = 5  # the locustfile's one-each users: exporter, slow reader, aborter, probe, notifier
MIN_USERS = FIXED_USERS + 2


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

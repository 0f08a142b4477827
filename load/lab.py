"""One lab run, start to end: open the builds (a revision is checked out), check they can run,
prepare the database, run each build, then judge, write the report and return the exit code.

Everything it starts is stopped in a ``finally`` that a second Ctrl-C cannot cut short.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime

from rich.console import Console

from app.settings import load_settings
from load.judge.verdict import Summary, Verdict
from load.report import memray_capture, plots, report
from load.report.console import Progress, print_result
from load.report.summary import build_summary, pool_limit, run_settings
from load.run import database
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.preflight import check_app, check_locustfile
from load.run.receiver import webhook_receiver
from load.run.runner import run_build
from load.run.servers import Children
from load.run.target import Target

EXIT_FAILED_VERDICT = 1
EXIT_CANNOT_RUN = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INCONCLUSIVE = 3  # the evidence stayed unclear up to --max-duration: neither pass nor fail
FIXED_USERS = 5  # the locustfile's one-each users: exporter, slow reader, aborter, probe, notifier
MIN_USERS = FIXED_USERS + 2
# a build to run: made when the run starts (a revision is checked out into the stack, which
# removes it on the way out), and the verdict on the builds' summaries, by name
Opener = Callable[[ExitStack], Target]
Judge = Callable[[dict[str, Summary]], Verdict]


def as_is(target: Target) -> Opener:
    """A build that needs nothing opened: this checkout's builds, an app in its folder."""
    return lambda _stack: target


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


def refusal(targets: Sequence[Target], config: LabConfig) -> str | None:
    """What makes these builds impossible to run with this config, before anything starts."""
    for target in targets:
        if target.leaks is not None and not twin_present():
            return (
                "the leaky twin (app/leaky/main.py) is not in this checkout; run `leakproof soak` "
                "to judge the fixed build alone, or `leakproof compare --a git:HEAD~1 --b "
                "git:HEAD` to compare two revisions of it"
            )
        if target.lab_load and config.users < MIN_USERS:
            return f"--users must be at least {MIN_USERS} ({FIXED_USERS} fixed users plus shoppers)"
        if config.max_memory is not None and not target.template:
            return (
                f"--max-memory is this project's gunicorn worker's budget; {target.name} runs "
                "under uvicorn's worker: leave --max-memory out (--max-requests works)"
            )
    return None


def database_note(targets: Sequence[Target]) -> str:
    """Where pg_stat_activity comes from when no build is this project's app."""
    if any(target.database_url for target in targets):
        return "of --database-url: every client of its database counted"
    return "not sampled (no --database-url)"


def run_lab(mode: str, openers: Sequence[Opener], config: LabConfig, judge: Judge) -> int:
    """Open each build (a revision is checked out here), check it can run, prepare the
    database when a build is this project's app, run each build, then judge and report."""
    console = Console()
    if config.memray and not memray_capture.available():
        print(f"leakproof: {memray_capture.MISSING}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    settings = load_settings()
    headers = {}
    if settings.debug_token is not None:
        headers["X-Debug-Token"] = settings.debug_token.get_secret_value()
    started_at = datetime.now().isoformat(timespec="seconds")
    children = Children()
    progress = Progress(console, config.duration_s)
    runs: list[BuildRun] = []
    stack = ExitStack()
    try:
        targets = [open_target(stack) for open_target in openers]
        refused = refusal(targets, config)
        if refused is not None:
            print(f"leakproof: {refused}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        for target in targets:
            check_app(target)
            check_locustfile(target)
        config.out.mkdir(parents=True, exist_ok=True)
        url: str | None = None
        where = database_note(targets)
        if any(target.template for target in targets):
            url, where = database.lab_database_url(settings)
            stack.enter_context(webhook_receiver())  # POST /items/{id}/notify's receiver
            database.prepare(url)
        console.print(f"leakproof {mode}: {config.describe()}; PostgreSQL {where}")
        for target in targets:
            seeding = f"seeding {config.seed_items} items, " if target.template else ""
            console.print(f"[bold]{target.name}[/]: {seeding}starting the server")
            runs.append(
                run_build(
                    target, config, url, config.out, children, progress.show, headers,
                    pool_limit(config, settings, target),
                )
            )  # fmt: skip
            progress.done()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        # a server that would not start, a generator or a flamegraph that hung, an app or a
        # locustfile that cannot run: the run could not happen, which is not the verdict's FAIL
        progress.done()
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        with uninterrupted():  # a second Ctrl-C or TERM must not cut the cleanup short
            progress.done()
            children.stop_all()
            stack.close()  # the webhook receiver, and the revisions' worktrees
    summaries = {run.build: build_summary(run, config, settings) for run in runs}
    verdict = judge(summaries)
    summary = {
        "mode": mode,
        "started_at": started_at,
        "settings": run_settings(config, settings, where, targets),
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

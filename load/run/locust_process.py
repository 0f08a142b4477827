"""locust as a subprocess: its command line and settings, and reading what it leaves behind
(its progress lines and its CSV statistics).

locust itself is never imported here (it monkey-patches the whole process with gevent).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from load.run.config import LabConfig

# after --run-time, locust stops its users and writes its CSV files: allow it that long
LOCUST_EXIT_GRACE_S = 30.0
LOCUSTFILE = Path(__file__).resolve().parents[1] / "locust" / "locustfile.py"
# the lab's hooks for a locustfile of your own, which need not import them
LAB_HOOKS_FILE = LOCUSTFILE.with_name("with_lab.py")
# distributed mode (--locust-workers): the master listens on loopback for the lab's own workers,
# on every interface when workers from other machines are expected
MASTER_HOST = "127.0.0.1"
EVERY_INTERFACE = "*"
# settings a worker's locustfile reads; the progress, stop file and bound are the master's
WORKER_SETTINGS = (
    "LEAKPROOF_LAB_SEED_ITEMS", "LEAKPROOF_LAB_WORKERS", "LEAKPROOF_LAB_SLOW_READERS",
    "LEAKPROOF_LAB_WARMUP_S",
)  # fmt: skip

Progress = list[tuple[float, int, int]]  # (unix time, requests so far, failures so far)


@dataclass
class LoadStats:
    requests: int = 0
    failures: int = 0
    requests_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    # the most frequent errors: (request name, error, occurrences)
    top_failures: list[tuple[str, str, int]] = field(default_factory=list)


def read_progress(path: Path) -> Progress:
    """The progress file's lines; a torn last line (the writer was stopped) is skipped."""
    if not path.exists():
        return []
    points: Progress = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            points.append((float(parts[0]), int(parts[1]), int(parts[2])))
        except ValueError:
            continue
    return points


def read_stats(prefix: Path) -> LoadStats:
    """The Aggregated row of ``<prefix>_stats.csv`` and the top rows of ``_failures.csv``."""
    stats = LoadStats()
    stats_file = prefix.with_name(prefix.name + "_stats.csv")
    if stats_file.exists():
        with stats_file.open(newline="") as rows:
            for row in csv.DictReader(rows):
                if row.get("Name") == "Aggregated":
                    stats.requests = int(row["Request Count"])
                    stats.failures = int(row["Failure Count"])
                    stats.requests_per_s = float(row["Requests/s"])
                    stats.p50_ms = _number(row.get("50%"))
                    stats.p99_ms = _number(row.get("99%"))
    failures_file = prefix.with_name(prefix.name + "_failures.csv")
    if failures_file.exists():
        with failures_file.open(newline="") as rows:
            found = [
                (row["Name"], row["Error"], int(row["Occurrences"])) for row in csv.DictReader(rows)
            ]
        stats.top_failures = sorted(found, key=lambda failure: -failure[2])[:8]
    return stats


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None


def locust_env(config: LabConfig, progress_path: Path, stop_path: Path) -> dict[str, str]:
    """The locustfile's settings (it reads only its environment): where to report progress,
    the file whose existence stops it, and the run's shape."""
    env = dict(os.environ)
    env.update(
        LEAKPROOF_LAB_PROGRESS=str(progress_path),
        LEAKPROOF_LAB_STOP_FILE=str(stop_path),
        LEAKPROOF_LAB_SEED_ITEMS=str(config.seed_items),
        LEAKPROOF_LAB_MAX_REQUESTS=str(config.requests or 0),
        LEAKPROOF_LAB_WARMUP_S=f"{config.warmup_s:g}",
        LEAKPROOF_LAB_WORKERS=str(nominal_workers(config)),
        LEAKPROOF_LAB_SLOW_READERS=str(config.slow_readers),
    )
    return env


def locust_command(
    config: LabConfig,
    base_url: str,
    csv_prefix: Path,
    locustfiles: Sequence[Path] = (LOCUSTFILE,),
    master_port: int | None = None,
) -> list[str]:
    """locust runs until the cap; the lab stops it earlier (the stop file) once it has judged
    and, for a build that grows, traced its window. Extra slow readers come on top of --users.

    With ``master_port`` it is the master of locust's distributed mode: it sends no request
    itself, waits for its workers (the lab's and those from other machines, at most
    ``config.generator_wait_s``), hands them the users, adds up their statistics (the CSV files
    are its) and runs the warm-up shape."""
    users = config.users + config.slow_readers - 1
    run_time = math.ceil(config.slow_cap_s + config.window_cap_s)  # locust takes whole seconds
    command = [
        sys.executable, "-m", "locust", "-f", joined(locustfiles), "--headless",
        "--host", base_url, "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{run_time}s", "--csv", str(csv_prefix),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
    ]  # fmt: skip
    if master_port is not None:
        bind = EVERY_INTERFACE if config.remote_locust_workers else MASTER_HOST
        command += [
            "--master", "--master-bind-host", bind, "--master-bind-port", str(master_port),
            "--expect-workers", str(config.locust_workers + config.remote_locust_workers),
            "--expect-workers-max-wait", f"{config.generator_wait_s:g}",
        ]  # fmt: skip
    return command


def lab_locustfiles(locustfile: Path) -> tuple[Path, ...]:
    """What locust loads: this project's locustfile imports the lab's hooks itself; any other
    gets them in a second file (``-f yours.py,with_lab.py``), so it needs nothing of the lab."""
    return (locustfile,) if locustfile.resolve() == LOCUSTFILE else (locustfile, LAB_HOOKS_FILE)


def joined(locustfiles: Sequence[Path]) -> str:
    """``-f``'s value: locust merges the files (their users, the hooks' listeners and shape)."""
    return ",".join(str(path) for path in locustfiles)


def worker_command(locustfiles: Sequence[Path], master_port: int) -> list[str]:
    """One worker of locust's distributed mode: the same locustfile, its users and settings from
    the master (a worker on another machine runs the same with ``--master-host``)."""
    return [
        sys.executable, "-m", "locust", "-f", joined(locustfiles), "--worker",
        "--master-host", MASTER_HOST, "--master-port", str(master_port),
        "--loglevel", "WARNING",
    ]  # fmt: skip


def remote_worker_command(
    env: dict[str, str], locustfiles: Sequence[Path], master_port: int, root: Path
) -> str:
    """What to run on another machine, in a checkout of this project (``make setup``), for a
    worker of this run: the locustfile's settings, the same locustfile, this master."""
    settings = " ".join(f"{name}={env[name]}" for name in WORKER_SETTINGS if name in env)
    files = ",".join(
        str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        for path in locustfiles
    )
    return (
        f"{settings} .venv/bin/locust -f {files} --worker "
        f"--master-host <this machine's address> --master-port {master_port}"
    )


def nominal_workers(config: LabConfig) -> int:
    return config.workers if config.server == "gunicorn" else 1

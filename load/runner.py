"""One build under load: reseed, start the server, sample it while locust drives it, settle, stop.

Everything it starts is registered in ``Children``, which the caller stops in a ``finally``:
a Ctrl-C or SIGTERM at any moment leaves no server, worker or generator behind.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load import database
from load.analysis import interpolate_requests
from load.config import LabConfig
from load.locust_output import LoadStats, Progress, read_progress, read_stats
from load.sampling import Sample, Sampler
from load.servers import Children, free_port, server_command, server_env, wait_ready

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
# after --run-time, locust stops its users and writes its CSV files: allow it that long
LOCUST_EXIT_GRACE_S = 30.0
TICK_S = 0.5


@dataclass
class Live:
    """What the progress display shows while a build runs."""

    build: str
    elapsed_s: float = 0.0
    requests: int = 0
    failures: int = 0
    sample: Sample | None = None


@dataclass
class BuildRun:
    build: str
    samples: list[Sample]
    progress: Progress
    load: LoadStats
    worker_restarts: int
    growth: dict[str, Any]
    load_seconds: float
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step of the run
    server_died: bool = False
    recycles: dict[str, int] = field(default_factory=dict)  # by reason, from /metrics


def locust_command(config: LabConfig, base_url: str, csv_prefix: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", base_url, "--users", str(config.users), "--spawn-rate", str(config.users),
        "--run-time", f"{config.duration_s:g}s", "--csv", str(csv_prefix),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
    ]  # fmt: skip


def run_build(
    build: str,
    config: LabConfig,
    database_url: str,
    out: Path,
    children: Children,
    show: Callable[[Live], None],
    debug_headers: dict[str, str],
) -> BuildRun:
    timings: dict[str, float] = {}
    started = time.monotonic()
    database.reseed(database_url, config.seed_items, config.item_bytes)
    timings["seed"] = time.monotonic() - started
    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = out / f"server-{build}.log"
    server = children.start(
        f"{build} server",
        server_command(build, config, port),
        server_env(build, config, database_url),
        server_log,
    )
    wait_ready(server, base_url, server_log)
    timings["start"] = time.monotonic() - started
    started = time.monotonic()

    load_started: list[float] = []

    def phase(ts: float) -> str:
        if not load_started or ts < load_started[0]:
            return "idle"
        return "warmup" if ts < load_started[0] + config.warmup_s else "measure"

    sampler = Sampler(
        build=build,
        leader_pid=server.pid,
        base_url=base_url,
        database_url=database_url,
        interval_s=config.sample_interval_s,
        phase=phase,
        headers=debug_headers,
    )
    sampler.start()
    progress_path = out / f"progress-{build}.txt"
    progress_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update(
        LEAKPROOF_LAB_PROGRESS=str(progress_path),
        LEAKPROOF_LAB_SEED_ITEMS=str(config.seed_items),
        LEAKPROOF_LAB_MAX_REQUESTS=str(config.requests or 0),
        LEAKPROOF_LAB_WARMUP_S=f"{config.warmup_s:g}",
        LEAKPROOF_LAB_WORKERS=str(_nominal_workers(config)),
    )
    generator = children.start(
        f"{build} load",
        locust_command(config, base_url, out / f"locust-{build}"),
        env,
        out / f"locust-{build}.log",
    )
    live = Live(build)
    baseline_taken = False
    deadline = time.monotonic() + config.duration_s + LOCUST_EXIT_GRACE_S + 15
    while generator.process.poll() is None and time.monotonic() < deadline:
        time.sleep(TICK_S)
        progress = read_progress(progress_path)
        if progress and not load_started:
            load_started.append(progress[0][0])
        if progress:
            live.elapsed_s = progress[-1][0] - progress[0][0]
            live.requests, live.failures = progress[-1][1], progress[-1][2]
        live.sample = sampler.samples[-1] if sampler.samples else None
        show(live)
        if not baseline_taken and load_started and time.time() >= load_started[0] + config.warmup_s:
            sampler.baseline()  # /debug/growth's reference point, at the end of warm-up
            baseline_taken = True
    timings["load"] = time.monotonic() - started
    sampler.stop()
    generator.stop()
    server_died = server.process.poll() is not None
    if server_died:
        sampler.errors.append(f"the {build} server died during the run; see {server_log}")
    started = time.monotonic()
    growth = sampler.settle() if not server_died else {}
    timings["settle"] = time.monotonic() - started
    started = time.monotonic()
    server.stop()
    timings["stop"] = time.monotonic() - started
    progress = read_progress(progress_path)
    samples = [sample for sample in sampler.samples if sample.phase != "idle"]
    interpolate_requests(samples, progress)
    mark_cooldown(samples, progress)
    return BuildRun(
        build=build,
        samples=samples,
        progress=progress,
        load=read_stats(out / f"locust-{build}"),
        worker_restarts=max(0, len(sampler.worker_pids_seen) - _nominal_workers(config)),
        growth=growth,
        load_seconds=(progress[-1][0] - progress[0][0]) if len(progress) > 1 else 0.0,
        errors=sampler.errors,
        timings={name: round(seconds, 1) for name, seconds in timings.items()},
        server_died=server_died,
        recycles={reason: int(count) for reason, count in sampler.inside.recycles.items()},
    )


def mark_cooldown(samples: list[Sample], progress: Progress) -> None:
    """Samples taken after the last request are not under load: keep them out of the slope.

    When locust stops, every user drops its connection at once and the server tears them
    down, a burst that belongs to neither build's steady state.
    """
    if not progress:
        return
    final = progress[-1][1]
    ended = next(ts for ts, requests, _ in progress if requests == final)
    for sample in samples:
        if sample.phase == "measure" and sample.ts > ended:
            sample.phase = "cooldown"


def _nominal_workers(config: LabConfig) -> int:
    return config.workers if config.server == "gunicorn" else 1

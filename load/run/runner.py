"""One build under load: reseed, start the server, sample it while locust drives it, settle, stop.

Everything it starts is registered in ``Children``, which the caller stops in a ``finally``:
a Ctrl-C or SIGTERM at any moment leaves no server, worker or generator behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load.judge.analysis import heap_trend, interpolate_requests, rss_trend
from load.judge.kinds import LEAK_KINDS, Judgement, judge_samples
from load.probe.attribution import Attribution, HeapPoint, ProbeChannel, collect
from load.report import memray_capture
from load.run import database
from load.run.config import EXTEND_SHARE, LabConfig
from load.run.locust_process import LoadStats, Progress, read_progress, read_stats
from load.run.sampling import Sample, Sampler
from load.run.servers import (
    ROOT,
    Children,
    free_port,
    server_command,
    server_env,
    server_processes,
    wait_ready,
)

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locust" / "locustfile.py"
# after --run-time, locust stops its users and writes its CSV files: allow it that long
LOCUST_EXIT_GRACE_S = 30.0
TICK_S = 0.5
# after the load stops and before the window's snapshot: aborted streams and the last
# responses finish, so what the snapshot holds is what stays
DRAIN_S = 2.0


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
    heap: list[HeapPoint] = field(default_factory=list)
    attribution: Attribution | None = None  # None: the probe was off
    extensions: list[str] = field(default_factory=list)  # why the load ran past --duration
    recycles: dict[str, int] = field(default_factory=dict)  # by reason, from /metrics
    flamegraphs: list[Path] = field(default_factory=list)  # --memray: one per process
    window_opened_at: float | None = None  # unix time the tracing window opened
    # what stopped the load: the report keeps it, so a verdict is the one the run acted on
    judgement: Judgement | None = None


def locust_command(config: LabConfig, base_url: str, csv_prefix: Path) -> list[str]:
    """locust runs until the cap; the lab stops it earlier (the stop file) once it has judged
    and, for a build that grows, traced its window. Extra slow readers come on top of --users."""
    users = config.users + config.slow_readers - 1
    run_time = math.ceil(config.load_cap_s + config.window_s)  # locust takes whole seconds
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", base_url, "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{run_time}s", "--csv", str(csv_prefix),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
    ]  # fmt: skip


@dataclass
class Window:
    """The probe's tracing window over one build's load, and what it found."""

    channel: ProbeChannel | None
    opened_at: float | None = None  # unix time
    attribution: Attribution = field(default_factory=Attribution)

    def open(self, frames: int, workers: list[int]) -> None:
        if self.channel is not None and self.opened_at is None:
            self.channel.send("start", frames=frames, pids=workers)
            self.opened_at = time.time()

    def heap(self, workers: set[int]) -> list[HeapPoint]:
        return self.channel.heap(workers) if self.channel is not None else []


def run_build(
    build: str,
    config: LabConfig,
    database_url: str,
    out: Path,
    children: Children,
    show: Callable[[Live], None],
    debug_headers: dict[str, str],
    pool_limit: int | None = None,
) -> BuildRun:
    timings: dict[str, float] = {}
    started = time.monotonic()
    database.reseed(database_url, config.seed_items, config.item_bytes)
    timings["seed"] = time.monotonic() - started
    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = out / f"server-{build}.log"
    probe_dir = out / f"probe-{build}" if config.attribution else None
    if probe_dir is not None:
        shutil.rmtree(probe_dir, ignore_errors=True)
    window = Window(ProbeChannel(probe_dir) if probe_dir is not None else None)
    server = children.start(
        f"{build} server",
        server_command(build, config, port),
        server_env(build, config, database_url, probe_dir),
        server_log,
    )
    wait_ready(server, base_url, server_log)
    timings["start"] = time.monotonic() - started
    started = time.monotonic()

    load_started: list[float] = []

    def phase(ts: float) -> str:
        if not load_started or ts < load_started[0]:
            return "idle"
        if window.opened_at is not None and ts >= window.opened_at:
            return "window"  # tracing: slower, and tracemalloc's tables in RSS; not measured
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
    stop_path = out / f"stop-{build}"
    stop_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update(
        LEAKPROOF_LAB_PROGRESS=str(progress_path),
        LEAKPROOF_LAB_STOP_FILE=str(stop_path),
        LEAKPROOF_LAB_SEED_ITEMS=str(config.seed_items),
        LEAKPROOF_LAB_MAX_REQUESTS=str(config.requests or 0),
        LEAKPROOF_LAB_WARMUP_S=f"{config.warmup_s:g}",
        LEAKPROOF_LAB_WORKERS=str(_nominal_workers(config)),
        LEAKPROOF_LAB_SLOW_READERS=str(config.slow_readers),
    )
    generator = children.start(
        f"{build} load",
        locust_command(config, base_url, out / f"locust-{build}"),
        env,
        out / f"locust-{build}.log",
    )
    live = Live(build)
    baseline_taken = False
    decide_at = config.duration_s
    window_until: float | None = None
    decided: Judgement | None = None
    extensions: list[str] = []
    deadline = time.monotonic() + config.load_cap_s + config.window_s + LOCUST_EXIT_GRACE_S + 15
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
        if not load_started or stop_path.exists():
            continue
        elapsed = time.time() - load_started[0]
        if not baseline_taken and elapsed >= config.warmup_s:
            sampler.baseline()  # /debug/growth's reference point, at the end of warm-up
            baseline_taken = True
        if window_until is not None:
            if elapsed >= window_until:
                stop_path.touch()  # locust quits at its next progress line
            continue
        if elapsed < decide_at:
            continue
        workers = sampler.worker_pids_seen
        judgement = judge_now(sampler.samples, window.heap(workers), progress, pool_limit)
        if not judgement.conclusive and decide_at < config.load_cap_s:
            extensions.append(f"{elapsed:.0f} s: {judgement.reasons[-1]}")
            decide_at = min(decide_at + EXTEND_SHARE * config.duration_s, config.load_cap_s)
            continue
        decided = judgement
        if window.channel is not None and judgement.kind in LEAK_KINDS:
            serving = [process.pid for process in server_processes(server.pid)[1]]
            window.open(config.trace_frames, serving)  # where does it grow? a few seconds more
            window_until = elapsed + config.window_s
        else:
            stop_path.touch()
    timings["load"] = time.monotonic() - started
    stop_path.touch()  # also when the loop ended on its deadline: locust must not run on
    with contextlib.suppress(subprocess.TimeoutExpired):  # then stopped below, group and all
        generator.process.wait(LOCUST_EXIT_GRACE_S)
    sampler.stop()
    generator.stop()
    server_died = server.process.poll() is not None
    if server_died:
        sampler.errors.append(f"the {build} server died during the run; see {server_log}")
    started = time.monotonic()
    if window.channel is not None and window.opened_at is not None and not server_died:
        time.sleep(DRAIN_S)  # requests in flight when the load stopped are not growth
        serving = [process.pid for process in server_processes(server.pid)[1]]
        seq = window.channel.send("finish", pids=serving)
        window.attribution = collect(window.channel, seq, serving, ROOT)
    timings["attribution"] = time.monotonic() - started
    started = time.monotonic()
    growth = sampler.settle() if not server_died else {}
    timings["settle"] = time.monotonic() - started
    started = time.monotonic()
    server.stop()
    timings["stop"] = time.monotonic() - started
    flamegraphs: list[Path] = []
    if config.memray:  # the captures are complete once the server has exited
        flamegraphs, notes = memray_capture.flamegraphs(out, build)
        sampler.errors.extend(notes)
    progress = read_progress(progress_path)
    if not progress:  # locust refused its options or could not start: nothing was measured
        raise RuntimeError(
            f"the load generator for {build} sent no request; its log is "
            f"{out / f'locust-{build}.log'}"
        )
    samples = [sample for sample in sampler.samples if sample.phase != "idle"]
    interpolate_requests(samples, progress)
    mark_cooldown(samples, progress)
    heap = window.heap(sampler.worker_pids_seen)
    return BuildRun(
        build=build,
        samples=samples,
        progress=progress,
        load=read_stats(out / f"locust-{build}"),
        worker_restarts=max(0, len(sampler.worker_pids_seen) - _nominal_workers(config)),
        growth=growth,
        load_seconds=(progress[-1][0] - progress[0][0]) if len(progress) > 1 else 0.0,
        errors=sampler.errors + window.attribution.notes,
        timings={name: round(seconds, 1) for name, seconds in timings.items()},
        server_died=server_died,
        heap=heap,
        attribution=window.attribution if window.opened_at is not None else None,
        extensions=extensions,
        recycles={reason: int(count) for reason, count in sampler.inside.recycles.items()},
        flamegraphs=flamegraphs,
        window_opened_at=window.opened_at,
        judgement=decided,
    )


def judge_now(
    samples: list[Sample], heap: list[HeapPoint], progress: Progress, pool_limit: int | None
) -> Judgement:
    """The kind the samples so far support: is the evidence clear enough to stop the load?"""
    current = [sample for sample in samples if sample.phase != "idle"]
    interpolate_requests(current, progress)
    requests = progress[-1][1] if progress else 0
    failed_share = (progress[-1][2] / requests) if requests else 0.0
    return judge_samples(
        current,
        rss_trend(current),
        heap_trend(heap, current, progress) if heap else None,
        pool_limit,
        failed_share,
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

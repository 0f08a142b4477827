"""A service the lab did not start, under load: sample what it exposes while locust drives it,
judge it as the lab judges its own builds (the same judge, on the memory and the counts its
metrics give), settle, stop the generator.

Nothing of the service is started or stopped here: what the lab starts is locust (one process,
or a master and its workers), registered in ``Children`` like every child of a run.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from load.judge.analysis import interpolate_requests
from load.judge.kinds import Judgement, idle_threads, judge_now
from load.run.build_run import BuildRun, Live
from load.run.config import EXTEND_SHARE, LabConfig
from load.run.generator import start_generator
from load.run.locust_process import (
    LOCUST_EXIT_GRACE_S,
    LOCUSTFILE,
    lab_locustfiles,
    locust_env,
    read_progress,
    read_stats,
)
from load.run.remote_sampling import RemoteSampler
from load.run.remote_target import Target
from load.run.runner import TICK_S, mark_cooldown
from load.run.servers import Children
from load.run.target import Target as Served

SERVICE = "service"  # the build's name in the report and summary.json
# after the load stops: responses in flight finish before the last sample
DRAIN_S = 2.0


def run_remote(
    target: Target,
    config: LabConfig,
    out: Path,
    children: Children,
    show: Callable[[Live], None],
    locustfile: Path = LOCUSTFILE,
) -> tuple[BuildRun, RemoteSampler]:
    """The service under ``config``'s load until its verdict is clear (or the cap); the run,
    and the sampler that watched it (what it could and could not see)."""
    load_started: list[float] = []

    def phase(ts: float) -> str:
        if not load_started or ts < load_started[0]:
            return "idle"
        return "warmup" if ts < load_started[0] + config.warmup_s else "measure"

    sampler = RemoteSampler(target, phase)
    sampler.start()
    try:
        return _drive(target, config, out, children, show, locustfile, sampler, load_started)
    finally:
        sampler.stop()  # on every path; a second stop is a no-op


def _drive(
    target: Target,
    config: LabConfig,
    out: Path,
    children: Children,
    show: Callable[[Live], None],
    locustfile: Path,
    sampler: RemoteSampler,
    load_started: list[float],
) -> tuple[BuildRun, RemoteSampler]:
    """The load, the decisions, the settling: ``run_remote``'s body."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    progress_path = out / f"progress-{SERVICE}.txt"
    stop_path = out / f"stop-{SERVICE}"
    progress_path.unlink(missing_ok=True)
    stop_path.unlink(missing_ok=True)
    env = locust_env(config, progress_path, stop_path)
    env["LEAKPROOF_LAB_WORKERS"] = str(target.workers)  # its jobs live in the worker running them
    generator = start_generator(
        children, SERVICE, config, target.url, out, env, lab_locustfiles(locustfile)
    )
    live = Live(SERVICE)
    baseline_taken = False
    decide_at = config.duration_s
    decided: Judgement | None = None
    extensions: list[str] = []
    deadline = (
        time.monotonic() + config.slow_cap_s + LOCUST_EXIT_GRACE_S + 15 + config.generator_wait_s
    )
    while generator.process.poll() is None and time.monotonic() < deadline:
        time.sleep(TICK_S)
        progress = read_progress(progress_path)
        if progress and not load_started:
            load_started.append(progress[0][0])
        live.update(progress, sampler.samples)
        show(live)
        if not load_started or stop_path.exists():
            continue
        elapsed = time.time() - load_started[0]
        if not baseline_taken and elapsed >= config.warmup_s:
            sampler.baseline()  # /debug/growth's reference point, where the service has one
            baseline_taken = True
        if elapsed < decide_at:
            continue
        # the pool's cap is the service's setting, unknown here: pinned pools are not judged
        judgement = judge_now(sampler.samples, sampler.heap, progress, None)
        cap_s = config.cap_s(progress[-1][1])  # longer on a machine too slow for the requests
        if judgement.open_question and decide_at < cap_s:
            extensions.append(f"{elapsed:.0f} s: {judgement.open_question}")
            decide_at = min(decide_at + EXTEND_SHARE * config.duration_s, cap_s)
            continue
        decided = judgement
        stop_path.touch()
    timings["load"] = time.monotonic() - started
    stop_path.touch()  # also when the loop ended on its deadline
    with contextlib.suppress(subprocess.TimeoutExpired):
        generator.process.wait(LOCUST_EXIT_GRACE_S)
    generator.stop()
    time.sleep(DRAIN_S)
    sampler.stop()
    started = time.monotonic()
    growth, answered = sampler.settle()
    timings["settle"] = time.monotonic() - started
    if not answered:
        sampler.errors.append(f"{target.metrics_url} did not answer after the load")
    progress = read_progress(progress_path)
    if not progress:  # locust refused its options or could not start: nothing was measured
        raise RuntimeError(
            f"the load generator sent no request; its log is {out / f'locust-{SERVICE}.log'}"
        )
    threads_before_load = idle_threads(sampler.samples)
    samples = [sample for sample in sampler.samples if sample.phase != "idle"]
    interpolate_requests(samples, progress)
    mark_cooldown(samples, progress)
    run = BuildRun(
        # what the report names: the service at its URL, driven by the locustfile
        target=Served(
            name=SERVICE, slug=SERVICE, app=target.url, app_dir=Path.cwd(), locustfile=locustfile
        ),
        samples=samples,
        threads_before_load=threads_before_load,
        progress=progress,
        load=read_stats(out / f"locust-{SERVICE}"),
        worker_restarts=max(0, len(sampler.processes_seen) - sampler.most_processes),
        growth=growth,
        load_seconds=(progress[-1][0] - progress[0][0]) if len(progress) > 1 else 0.0,
        errors=sampler.errors,
        timings={name: round(seconds, 1) for name, seconds in timings.items()},
        server_died=not answered,
        heap=sampler.heap,
        extensions=extensions,
        recycles={reason: int(count) for reason, count in sampler.recycles.items()},
        judgement=decided,
    )
    return run, sampler

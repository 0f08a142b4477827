"""One build under load: reseed, start the server, sample it while locust drives it, settle, stop.

Everything it starts is registered in ``Children``, which the caller stops in a ``finally``:
a Ctrl-C or SIGTERM at any moment leaves no server, worker or generator behind.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from load.judge.after_load import not_kept_yet
from load.judge.analysis import interpolate_requests
from load.judge.kinds import LEAK_KINDS, Judgement, idle_threads, judge_now
from load.probe.attribution import (
    END_OF_LOAD,
    UNDER_LOAD,
    Attribution,
    HeapPoint,
    ProbeChannel,
    collect,
)
from load.report import memray_capture
from load.run import database, deaths
from load.run.build_run import BuildRun, Live
from load.run.config import EXTEND_SHARE, WINDOW_MIN_REQUESTS, LabConfig
from load.run.generator import start_generator
from load.run.locust_process import (
    LOCUST_EXIT_GRACE_S,
    Progress,
    locust_env,
    nominal_workers,
    read_progress,
    read_stats,
)
from load.run.readiness import free_port
from load.run.sampling import Sample, Sampler
from load.run.servers import (
    Children,
    server_command,
    server_env,
    server_processes,
    wait_ready,
    wait_until_answered,
)
from load.run.target import Target

TICK_S = 0.5
# after the load stops and before the window's snapshot: aborted streams and the last
# responses finish (at least DRAIN_S, then until no connection is open, at most ANSWER_MAX_S), so
# what the snapshot holds is what stays
DRAIN_S = 2.0
ANSWER_MAX_S = 60.0
# a collection under load in a worker with a large heap; past it the load stops without it
END_COLLECT_TIMEOUT_S = 10.0


@dataclass
class Window:
    """The probe's tracing window over one build's load, and what it found."""

    channel: ProbeChannel | None
    asked_at: float | None = None  # unix time the lab asked for tracing: no longer measured
    opened_at: float | None = None  # unix time every worker that answered was tracing
    attribution: Attribution = field(default_factory=Attribution)

    def open(self, frames: int, workers: list[int]) -> None:
        """Start tracing and wait until the workers do: their collection and count of objects
        first stall them, and what they served meanwhile was not traced."""
        if self.channel is not None and self.opened_at is None:
            self.asked_at = time.time()
            self.channel.ask("start", workers, frames=frames)
            self.opened_at = time.time()

    def heap(self, workers: set[int]) -> list[HeapPoint]:
        return self.channel.heap(workers) if self.channel is not None else []

    def end_of_load(self, workers: list[int]) -> None:
        """A collected heap in each worker while the load still runs, right before it stops:
        set against the settled heap after it, it tells what the requests in flight held."""
        self.collect(workers, END_OF_LOAD)

    def confirm(self, judgement: Judgement, workers: list[int], samples: list[Sample]) -> None:
        """Before an object leak is called: a collected heap in each worker under the load, to
        see whether it bears the growth out yet; if not, the judgement has an open question."""
        if self.channel is None or judgement.kind != "object-leak" or not workers:
            return
        self.collect(workers, UNDER_LOAD)
        loaded = [sample for sample in samples if sample.phase != "idle"]
        judgement.unconfirmed = not_kept_yet(loaded, self.heap(set(workers)), judgement.heap)

    def collect(self, workers: list[int], label: str) -> None:
        if self.channel is not None and workers:
            self.channel.ask("collect", workers, timeout_s=END_COLLECT_TIMEOUT_S, label=label)


def run_build(
    target: Target,
    config: LabConfig,
    database_url: str | None,
    out: Path,
    children: Children,
    show: Callable[[Live], None],
    debug_headers: dict[str, str],
    pool_limit: int | None = None,
) -> BuildRun:
    """``database_url``: the lab's database, migrated, which this project's app is seeded in and
    served from (None when no build of the run is this project's app)."""
    build, slug = target.name, target.slug
    timings: dict[str, float] = {}
    started = time.monotonic()
    if target.template and database_url is not None:
        database.reseed(database_url, config.seed_items, config.item_bytes)
    timings["seed"] = time.monotonic() - started
    started = time.monotonic()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = out / f"server-{slug}.log"
    probe_dir = out / f"probe-{slug}" if config.attribution else None
    if probe_dir is not None:
        shutil.rmtree(probe_dir, ignore_errors=True)
    window = Window(ProbeChannel(probe_dir) if probe_dir is not None else None)
    server = children.start(
        f"{build} server",
        server_command(target, config, port),
        server_env(target, config, database_url, probe_dir),
        server_log,
        cwd=target.app_dir,
    )
    wait_ready(server, base_url, server_log, target)
    timings["start"] = time.monotonic() - started
    started = time.monotonic()

    load_started: list[float] = []

    def phase(ts: float) -> str:
        if not load_started or ts < load_started[0]:
            return "idle"
        if window.asked_at is not None and ts >= window.asked_at:
            return "window"  # tracing: slower, and tracemalloc's tables in RSS; not measured
        return "warmup" if ts < load_started[0] + config.warmup_s else "measure"

    sampler = Sampler(
        target=target,
        leader_pid=server.pid,
        base_url=base_url,
        database_url=database_url,
        interval_s=config.sample_interval_s,
        phase=phase,
        headers=debug_headers,
        probe=window.channel,
    )
    sampler.start()
    progress_path = out / f"progress-{slug}.txt"
    progress_path.unlink(missing_ok=True)
    stop_path = out / f"stop-{slug}"
    stop_path.unlink(missing_ok=True)
    generator = start_generator(
        children, slug, config, base_url, out, locust_env(config, progress_path, stop_path),
        target.locustfiles,
    )  # fmt: skip
    live = Live(build)
    baseline_taken = False
    decide_at = config.duration_s
    window_until: float | None = None
    window_requests = 0  # requests done when the window opened
    decided: Judgement | None = None
    extensions: list[str] = []
    deadline = (
        time.monotonic()
        + config.slow_cap_s
        + config.window_cap_s
        + LOCUST_EXIT_GRACE_S
        + 15
        + config.generator_wait_s
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
            sampler.baseline()  # /debug/growth's reference point, at the end of warm-up
            baseline_taken = True
        if window_until is not None:
            if window_closes(elapsed, window_until, progress, window_requests, config):
                window.end_of_load(serving_pids(server.pid))
                stop_path.touch()  # locust quits at its next progress line
            continue
        if elapsed < decide_at:
            continue
        workers = sampler.worker_pids_seen
        judgement = judge_now(sampler.samples, window.heap(workers), progress, pool_limit)
        cap_s = config.cap_s(progress[-1][1])  # longer on a machine too slow for the requests
        if decide_at < cap_s:
            window.confirm(judgement, serving_pids(server.pid), sampler.samples)
        if judgement.open_question and decide_at < cap_s:
            extensions.append(f"{elapsed:.0f} s: {judgement.open_question}")
            decide_at = min(decide_at + EXTEND_SHARE * config.duration_s, cap_s)
            continue
        decided = judgement
        if window.channel is not None and judgement.kind in LEAK_KINDS:
            window.open(config.trace_frames, serving_pids(server.pid))  # where does it grow?
            # the window's seconds and requests count from when tracing ran: it serves many
            # times fewer requests a second, so those served while it started would be most
            progress = read_progress(progress_path) or progress
            window_until = time.time() - load_started[0] + config.window_s
            window_requests = progress[-1][1]
        else:
            window.end_of_load(serving_pids(server.pid))
            stop_path.touch()
    timings["load"] = time.monotonic() - started
    stop_path.touch()  # also when the loop ended on its deadline: locust must not run on
    with contextlib.suppress(subprocess.TimeoutExpired):  # then stopped below, group and all
        generator.process.wait(LOCUST_EXIT_GRACE_S)
    sampler.stop()
    generator.stop()
    server_died = server.process.poll() is not None
    server_ended = deaths.how_it_ended(server.process.returncode) if server_died else ""
    log_text = server_log.read_text(errors="replace") if server_log.exists() else ""
    sampler.errors[:0] = deaths.died_notes(
        build, server_ended, deaths.crashed_workers(log_text), server_log,
        under_memray=config.memray, greenlet=memray_capture.GREENLET_BANNER in log_text,
    )  # fmt: skip
    started = time.monotonic()
    if window.channel is not None and window.opened_at is not None and not server_died:
        serving = serving_pids(server.pid)
        # requests in flight when the load stopped are not growth
        in_flight = wait_until_answered(serving, at_least_s=DRAIN_S, at_most_s=ANSWER_MAX_S)
        if in_flight:
            sampler.errors.append(
                f"{in_flight} requests were still in flight at the heap snapshot after "
                f"{ANSWER_MAX_S:.0f} s: their memory may show among the sites"
            )
        seq = window.channel.send("finish", pids=serving)
        window.attribution = collect(window.channel, seq, serving, target.app_dir)
    timings["attribution"] = time.monotonic() - started
    started = time.monotonic()
    growth = sampler.settle() if not server_died else {}
    timings["settle"] = time.monotonic() - started
    started = time.monotonic()
    server.stop()
    timings["stop"] = time.monotonic() - started
    flamegraphs: list[Path] = []
    if config.memray:  # the captures are complete once the server has exited
        flamegraphs, notes = memray_capture.flamegraphs(out, slug)
        sampler.errors.extend(notes)
    progress = read_progress(progress_path)
    if not progress:  # locust refused its options or could not start: nothing was measured
        raise RuntimeError(
            f"the load generator for {build} sent no request; its log is "
            f"{out / f'locust-{slug}.log'}"
        )
    threads_before_load = idle_threads(sampler.samples)
    samples = [sample for sample in sampler.samples if sample.phase != "idle"]
    interpolate_requests(samples, progress)
    mark_cooldown(samples, progress)
    heap = window.heap(sampler.worker_pids_seen)
    return BuildRun(
        target=target,
        samples=samples,
        threads_before_load=threads_before_load,
        progress=progress,
        load=read_stats(out / f"locust-{slug}"),
        worker_restarts=max(0, len(sampler.worker_pids_seen) - nominal_workers(config)),
        growth=growth,
        load_seconds=(progress[-1][0] - progress[0][0]) if len(progress) > 1 else 0.0,
        errors=sampler.errors + window.attribution.notes,
        timings={name: round(seconds, 1) for name, seconds in timings.items()},
        server_died=server_died,
        server_ended=server_ended,
        heap=heap,
        attribution=window.attribution if window.opened_at is not None else None,
        extensions=extensions,
        recycles={reason: int(count) for reason, count in sampler.inside.recycles.items()},
        flamegraphs=flamegraphs,
        window_opened_at=window.opened_at,
        judgement=decided,
    )


def serving_pids(leader: int) -> list[int]:
    """The processes that serve requests: the workers, not a gunicorn arbiter."""
    return [process.pid for process in server_processes(leader)[1]]


def window_closes(
    elapsed: float, until: float, progress: Progress, opened_at_requests: int, config: LabConfig
) -> bool:
    """The tracing window has run its seconds and served enough requests to show what grows
    per request, or has run its longest (``window_cap_s``)."""
    if elapsed < until:
        return False
    served = (progress[-1][1] if progress else 0) - opened_at_requests
    capped = until - config.window_s + config.window_cap_s
    return served >= WINDOW_MIN_REQUESTS or elapsed >= capped


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

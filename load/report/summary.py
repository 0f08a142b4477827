"""The stable shape of summary.json: one entry per build, the run's settings, and the verdict.

Scripts read ``builds.fixed`` / ``builds.leaky`` (``requests``, ``failures``,
``rss_slope_mb_per_10k``, ``peak_pool_checked_out``, ``peak_db_connections``, ``peak_tasks``,
``worker_restarts``, ``memory_recycles``, ``request_recycles``) and ``verdict.ok`` /
``verdict.reasons``: keep those names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from statistics import median
from typing import Any

from app.settings import Settings
from load.judge.after_load import Kept, kept_since_warmup, revised
from load.judge.analysis import growing_resources, heap_trend, peak, requests_at, rss_trend
from load.judge.kinds import LEAK_KINDS, judge_samples
from load.judge.slopes import Trend
from load.probe.attribution import Attribution
from load.report import where
from load.run import deaths
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.recycling import budget_text
from load.run.sampling import Sample
from load.run.target import Target


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def pool_limit(config: LabConfig, settings: Settings, target: Target) -> int | None:
    """Connections the build's pools may hold in all: workers x (pool size + overflow), from
    this project's settings; None for an app whose pools the lab does not know."""
    if not target.template:
        return None
    workers = config.workers if config.server == "gunicorn" else 1
    return workers * (settings.db_pool_size + settings.db_max_overflow)


def retained_after_gc(samples: list[Sample]) -> float | None:
    """RSS after the load and a gc.collect() in each worker, minus RSS when warm-up ended."""
    measured = [sample.rss_mb for sample in samples if sample.phase == "measure"]
    settled = [sample.rss_mb for sample in samples if sample.phase == "settled"]
    if not measured or not settled:
        return None
    return settled[-1] - median(measured[:3])


def _interval(trend: Trend | None) -> list[float] | None:
    return None if trend is None else [round(trend.low, 3), round(trend.high, 3)]


def rate(progress: list[tuple[float, int, int]], start: float, end: float) -> float | None:
    """Requests per second between two instants of the load, from its progress lines."""
    if end - start < 1.0 or not progress:
        return None
    return (requests_at(end, progress) - requests_at(start, progress)) / (end - start)


def tracing_cost(run: BuildRun, config: LabConfig) -> dict[str, Any] | None:
    """What the tracing window cost, in the same run: requests per second before and during it.

    Only a build that grows is traced; a flat build pays for the probe's sampling alone.
    """
    if run.window_opened_at is None or len(run.progress) < 2:
        return None
    started, ended = run.progress[0][0], run.progress[-1][0]
    before = rate(run.progress, started + config.warmup_s, run.window_opened_at)
    during = rate(run.progress, run.window_opened_at, ended)
    if not before or during is None:
        return None
    return {
        "measured_rps": round(before, 1),
        "window_rps": round(during, 1),
        "window_s": round(ended - run.window_opened_at, 1),
        "slowdown": round(1 - during / before, 2),
        "share_of_run": round((ended - run.window_opened_at) / (ended - started), 2),
    }


def heap_mb(heap: Trend | None, found: Attribution | None) -> float | None:
    if heap is None or found is None or found.bytes_per_block is None:
        return None
    return round(heap.slope * found.bytes_per_block / (1024 * 1024), 3)


def _kept(kept: Kept | None) -> dict[str, int] | None:
    if kept is None:
        return None
    return {
        "blocks": round(kept.blocks),
        "in_flight_at_warmup_end": round(kept.in_flight),
        "requests": round(kept.requests),
    }


def died_reason(run: BuildRun) -> dict[str, str]:
    """What the verdict says of a server the lab saw die: how it ended, and where its log is."""
    if not (run.server_died and run.server_ended):
        return {}
    log = f"server-{run.target.slug}.log"
    return {"server_died_reason": deaths.server_died("the server", run.server_ended, log)}


def build_summary(run: BuildRun, config: LabConfig, settings: Settings) -> dict[str, Any]:
    samples = run.samples
    rss = [sample.rss_mb for sample in samples]
    failed_share = run.load.failures / run.load.requests if run.load.requests else 0.0
    judgement = run.judgement
    limit = pool_limit(config, settings, run.target)
    if judgement is None:  # the load ended before a decision (a dead server, the deadline)
        heap_fit = heap_trend(run.heap, samples, run.progress) if run.heap else None
        judgement = judge_samples(
            samples,
            rss_trend(samples),
            heap_fit,
            limit,
            failed_share,
            run.heap,
            run.threads_before_load,
        )
    rss_fit, heap_fit = judgement.rss, judgement.heap
    # what stayed after the load, and what the whole run's failures show
    judgement = revised(judgement, samples, run.heap, failed_share, run.threads_before_load)
    found = run.attribution
    leaking = judgement.kind in LEAK_KINDS
    return {
        "served": run.target.describe(),
        "kind": judgement.kind,
        "kinds": judgement.kinds,
        "kind_reasons": judgement.reasons,
        "leaked_resources": judgement.resources,
        "rss_slope_ci": _interval(rss_fit),
        "heap_slope_blocks_per_10k": None if heap_fit is None else round(heap_fit.slope),
        "heap_slope_blocks_ci": None
        if heap_fit is None
        else [round(heap_fit.low), round(heap_fit.high)],
        # blocks in MB at the size of what the window held; known where a window was traced
        "heap_slope_mb_per_10k": heap_mb(heap_fit, found),
        "heap_kept_after_load": _kept(kept_since_warmup(samples, run.heap)),
        # where it grows: shown for a build that grows; a flat build's window holds only what
        # its bounded structures and requests in flight happened to hold when it closed
        "leak_sites": (found.sites if found and leaking else []),
        "growing_types": (found.types if found and leaking else []),
        "attribution": None
        if found is None
        else {
            "workers_answered": found.answered,
            "sites_seen": found.sites[:3],
        },
        "top_site": where.top_site({"leak_sites": found.sites}) if found and leaking else None,
        "extended": run.extensions,
        "tracing_cost": tracing_cost(run, config),
        "memray_flamegraphs": [page.name for page in run.flamegraphs],
        "requests": run.load.requests,
        "failures": run.load.failures,
        "requests_per_s": _round(run.load.requests_per_s, 1),
        "p50_ms": run.load.p50_ms,
        "p99_ms": run.load.p99_ms,
        "load_seconds": _round(run.load_seconds, 1),
        "rss_start_mb": _round(rss[0]) if rss else None,
        "rss_end_mb": _round(rss[-1]) if rss else None,
        "rss_peak_mb": _round(max(rss)) if rss else None,
        "rss_slope_mb_per_10k": _round(rss_fit.slope if rss_fit else None, 3),
        "retained_after_gc_mb": _round(retained_after_gc(samples)),
        "peak_pool_checked_out": _int(peak(samples, "pool_checked_out")),
        "peak_db_connections": _int(peak(samples, "db_connections")),
        "peak_tasks": _int(peak(samples, "tasks")),
        "peak_fds": _int(peak(samples, "fds")),
        "peak_threads": _int(peak(samples, "threads")),
        "threads_before_load": run.threads_before_load,
        "worker_restarts": run.worker_restarts,
        "memory_budget": budget_text(config),
        "memory_recycles": run.recycles.get("memory"),
        "request_recycles": run.recycles.get("requests"),
        "server_died": run.server_died,
        **died_reason(run),
        "pool_limit": limit,
        "growing": growing_resources(samples),
        "samples": len(samples),
        "measured_samples": sum(sample.phase == "measure" for sample in samples),
        "top_failures": [
            {"name": name, "error": error, "occurrences": count}
            for name, error, count in run.load.top_failures
        ],
        "objects_grown": (run.growth.get("objects") or [])[:10],
        "notes": run.errors[:10],
        "timings_s": run.timings,
    }


def run_settings(
    config: LabConfig, settings: Settings, database: str, targets: Sequence[Target] = ()
) -> dict[str, Any]:
    """The run's settings; ``this_project``: whether any build was this project's app (its
    pools, seeded items and scenarios mean something only then)."""
    values = asdict(config)
    values["this_project"] = not targets or any(target.template for target in targets)
    values["out"] = str(config.out)
    values["scenarios"] = list(config.chosen_scenarios)
    values["warmup_s"] = config.warmup_s
    values["database"] = database
    values["pool_size"] = settings.db_pool_size
    values["max_overflow"] = settings.db_max_overflow
    values["cpus"] = os.cpu_count()
    values["shared_cpus_note"] = (
        f"the load generator, the server under test and PostgreSQL share these {os.cpu_count()} "
        "CPUs: request rates and latencies are those of this shared machine"
    )
    return values

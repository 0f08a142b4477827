"""The report's figures as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from load.judge.analysis import failures_per_second
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.recycling import recycle_reasons, recycles_by_requests

MIN_STEP_S = 0.1
# by the build's slug: the two builds of a compare, fixed and leaky, or a and b
COLOURS = {"fixed": "#1b7837", "leaky": "#c51b7d", "a": "#b35806", "b": "#2166ac"}


def _start(run: BuildRun) -> float:
    if run.progress:
        return run.progress[0][0]
    return run.samples[0].ts if run.samples else 0.0


def _colour(run: BuildRun) -> str:
    return COLOURS.get(run.target.slug, "#2166ac")


def memory_vs_requests(runs: Sequence[BuildRun], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(9, 4.8))
    for run in runs:
        loaded = [sample for sample in run.samples if sample.phase != "settled"]
        axes.plot(
            [sample.requests for sample in loaded],
            [sample.rss_mb for sample in loaded],
            label=f"{run.build} RSS",
            color=_colour(run),
        )
        warm = [sample for sample in loaded if sample.phase == "warmup"]
        if warm:
            axes.axvline(warm[-1].requests, color=_colour(run), linestyle=":", linewidth=1)
        settled = [sample for sample in run.samples if sample.phase == "settled"]
        if settled:
            axes.plot(
                [settled[-1].requests],
                [settled[-1].rss_mb],
                marker="o",
                color=_colour(run),
                label=f"{run.build} after gc.collect()",
            )
    axes.set_xlabel("requests served")
    axes.set_ylabel("RSS of all server processes (MB)")
    axes.set_title("Memory per requests served (dotted: end of warm-up)")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def counts_over_time(
    runs: Sequence[BuildRun], fields: Sequence[tuple[str, str]], title: str, path: Path
) -> Path:
    """Each field ((attribute, label)) of each build against seconds since its load started."""
    figure, axes = plt.subplots(figsize=(9, 4.2))
    styles = ["-", "--", ":"]
    for run in runs:
        start = _start(run)
        for (name, label), style in zip(fields, styles, strict=False):
            points = [
                (sample.ts - start, getattr(sample, name))
                for sample in run.samples
                if getattr(sample, name) is not None
            ]
            if points:
                axes.plot(
                    [t for t, _ in points],
                    [value for _, value in points],
                    linestyle=style,
                    color=_colour(run),
                    label=f"{run.build} {label}",
                )
    axes.set_xlabel("seconds since the load started")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    else:  # an app whose database the lab was not told of, a run without the probe
        axes.text(0.5, 0.5, "not sampled for these builds", ha="center", transform=axes.transAxes)
    return _save(figure, path)


def throughput_and_failures(runs: Sequence[BuildRun], path: Path) -> Path:
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for run in runs:
        start = _start(run)
        steps = list(zip(run.progress, run.progress[1:], strict=False))
        # the last line is written as locust quits, a moment after the one before: skip such
        # slivers, whose rate would be noise
        rates = [
            (t1 - start, (r1 - r0) / (t1 - t0))
            for (t0, r0, _), (t1, r1, _) in steps
            if t1 - t0 >= MIN_STEP_S
        ]
        top.plot([t for t, _ in rates], [r for _, r in rates], color=_colour(run), label=run.build)
        failures = failures_per_second(run.progress)
        bottom.plot(
            [t for t, _ in failures],
            [f for _, f in failures],
            color=_colour(run),
            label=run.build,
        )
    top.set_ylabel("requests/s")
    top.set_title("Throughput and failed requests")
    bottom.set_ylabel("failed requests/s")
    bottom.set_xlabel("seconds since the load started")
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
        axes.legend()
    return _save(figure, path)


# how each kind of recycle is marked at the end of a worker's life
RECYCLE_MARKS = {
    "memory": ("v", "#d6604d", "recycled by memory"),
    "requests": ("s", "#4393c3", "recycled by max_requests"),
    "ended": ("x", "#555555", "exited"),
}


def worker_memory(runs: Sequence[BuildRun], config: LabConfig, path: Path) -> Path:
    """Each worker's RSS over its life, one line per pid, its end marked by why it ended: the
    saw tooth that the summed memory of all workers hides."""
    figure, panels = plt.subplots(
        1, len(runs), figsize=(9 if len(runs) > 1 else 6, 4.2), sharey=True, squeeze=False
    )
    budget = config.max_memory if isinstance(config.max_memory, int) else None
    for run, axes in zip(runs, panels[0], strict=True):
        start = _start(run)
        loaded = [sample for sample in run.samples if sample.phase != "settled"]
        lives: dict[int, list[tuple[float, float]]] = {}
        for sample in loaded:
            memory = sample.worker_rss_mb or sample.worker_anon_mb
            for pid, mb in memory.items():
                if mb > 0:  # an exiting worker reads as 0 for a moment: not its memory
                    lives.setdefault(pid, []).append((sample.ts, mb))
        end = loaded[-1].ts if loaded else 0.0
        reasons = recycle_reasons(
            {pid: (points[0][0], points[-1][0]) for pid, points in lives.items()},
            end,
            config.out / f"server-{run.target.slug}.log",
            max_requests=recycles_by_requests(config),
        )
        marked: set[str] = set()
        for pid, points in lives.items():
            axes.plot(
                [ts - start for ts, _ in points],
                [mb for _, mb in points],
                color=_colour(run),
                linewidth=1,
            )
            if pid in reasons:
                marker, colour, label = RECYCLE_MARKS[reasons[pid]]
                axes.plot(
                    [points[-1][0] - start],
                    [points[-1][1]],
                    marker=marker,
                    color=colour,
                    linestyle="",
                    label=None if label in marked else label,
                )
                marked.add(label)
        if budget is not None:
            axes.axhline(budget, color="#999999", linestyle="--", linewidth=1, label="budget")
        lives_ended = sum(reason != "ended" for reason in reasons.values())
        axes.set_title(f"{run.build}: {len(lives)} worker lives, {lives_ended} recycled")
        axes.set_xlabel("seconds since the load started")
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    panels[0][0].set_ylabel("RSS of each worker (MB)")
    figure.suptitle("Each worker's memory over its life (one line per pid)")
    return _save(figure, path)


def draw_all(runs: Sequence[BuildRun], out: Path) -> list[Path]:
    return [
        memory_vs_requests(runs, out / "memory.png"),
        counts_over_time(
            runs,
            [("db_connections", "pg_stat_activity rows"), ("pool_checked_out", "pool checked out")],
            "Database connections",
            out / "connections.png",
        ),
        counts_over_time(runs, [("tasks", "asyncio tasks")], "asyncio tasks", out / "tasks.png"),
        throughput_and_failures(runs, out / "failures.png"),
    ]


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=96)
    plt.close(figure)
    return path

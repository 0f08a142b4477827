"""From samples to judgements: the RSS slope per requests served, and counts that keep growing.

Growth is judged per requests served after warm-up (MB per 10k requests), never as one
absolute number: a build that serves more requests is not penalised, and a build whose
memory rises only while it starts is not called leaky.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import combinations, pairwise
from statistics import median

from load.sampling import Sample

PER_10K = 10_000
MIN_POINTS = 3
MAX_POINTS = 400
RESOURCES = ("tasks", "db_connections", "pool_checked_out", "fds", "threads")


def median_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The Theil-Sen slope: the median of the slopes between every two points; None when there
    are too few points or no spread.

    A leak is a steady climb, so nearly every pair of points sees it; a one-off spike (an
    allocator high-water mark, a collection) moves only the pairs it belongs to. A least-squares
    line is pulled by one outlier near either end: a flat build measured over 2,600 requests
    showed +0.87 MB per 10k from a single sample 1.9 MB high (Theil-Sen: 0.0).
    """
    if len(xs) != len(ys):
        return None
    return pooled_slope([(xs, ys)])


def pooled_slope(segments: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float | None:
    """One slope shared by several segments, each with its own level (a worker's life each):
    the median of the slopes between two points of the same segment.

    Recycling drops a worker's memory back to the start: fitting across the drop would call a
    saw tooth flat, so no pair spans two lives. A long segment is thinned to MAX_POINTS evenly
    spaced points first (the pairs grow with the square of the points).
    """
    slopes: list[float] = []
    for xs, ys in segments:
        if len(xs) < MIN_POINTS:
            continue
        step = -(-len(xs) // MAX_POINTS)  # ceiling division
        points = list(zip(xs[::step], ys[::step], strict=True))
        for (x0, y0), (x1, y1) in combinations(points, 2):
            if x1 != x0:
                slopes.append((y1 - y0) / (x1 - x0))
    return median(slopes) if slopes else None


def interpolate_requests(samples: list[Sample], progress: list[tuple[float, int, int]]) -> None:
    """Give each sample the generator's request and failure counts at the sample's time."""
    times = [point[0] for point in progress]
    for sample in samples:
        index = bisect_right(times, sample.ts)
        if index == 0:
            sample.requests = sample.failures = 0.0
        elif index == len(times):
            sample.requests, sample.failures = float(progress[-1][1]), float(progress[-1][2])
        else:
            (t0, r0, f0), (t1, r1, f1) = progress[index - 1], progress[index]
            share = (sample.ts - t0) / (t1 - t0) if t1 > t0 else 0.0
            sample.requests = r0 + share * (r1 - r0)
            sample.failures = f0 + share * (f1 - f0)


def rss_slope_mb_per_10k(samples: Sequence[Sample]) -> float | None:
    """MB per 10k requests after warm-up: the median slope of memory against requests.

    Fitted on anonymous RSS (RSS less file-backed pages, see Sample): what a leak grows,
    without the library code that is paged in the first time a path runs. With several workers,
    each worker's memory is fitted against its share of the requests (all requests / workers),
    one shared slope over all of them: n workers each growing s MB per request they serve grow
    the total s MB per request.

    When workers were recycled, the fit is over all workers' memory together, across the
    restarts: recycling bounds memory, and the verdict then judges that bounded total. A
    recycled life of a few hundred requests is mostly start-up, so fitting within each would
    measure imports, not leaks; the saw tooth in the memory plot shows what recycling hides.
    """
    measured = [sample for sample in samples if sample.phase == "measure"]
    if not measured:
        return None
    nominal = max(sample.workers for sample in measured) or 1
    first_seen: dict[int, float] = {}
    for sample in samples:
        for pid in sample.worker_anon_mb:
            first_seen.setdefault(pid, sample.ts)
    if any(born > samples[0].ts for born in first_seen.values()):
        full = [sample for sample in measured if sample.workers == nominal]
        slope = median_slope(
            [sample.requests for sample in full],
            [sum(sample.worker_anon_mb.values()) for sample in full],
        )
    else:
        lives: dict[int, tuple[list[float], list[float]]] = {}
        for sample in measured:
            for pid, anon in sample.worker_anon_mb.items():
                xs, ys = lives.setdefault(pid, ([], []))
                xs.append(sample.requests / nominal)
                ys.append(anon)
        slope = pooled_slope(list(lives.values()))
    return None if slope is None else slope * PER_10K


def recycled(samples: Sequence[Sample]) -> bool:
    """Whether a worker appeared after the run started (gunicorn replaced one)."""
    seen = set(samples[0].worker_anon_mb) if samples else set()
    return any(pid not in seen for sample in samples for pid in sample.worker_anon_mb)


def kept_growing(values: Sequence[float]) -> bool:
    """True when a count rose through the whole measured window, not in one early step.

    The medians of the first, middle and last thirds must rise, the last must exceed the first
    by at least 3 and by a quarter, and lie above everything the first third saw: a resource
    bounded by a limit levels off and fails this, and so does the to and fro of requests in flight.
    """
    if len(values) < 2 * MIN_POINTS:
        return False
    third = len(values) // 3
    first, middle, last = (
        median(values[:third]),
        median(values[third : 2 * third]),
        median(values[2 * third :]),
    )
    rose = last - first >= max(3.0, 0.25 * max(first, 1.0)) and last > max(values[:third])
    return first < middle < last and rose


def growing_resources(samples: Sequence[Sample]) -> list[str]:
    """Names of the resources that kept growing after warm-up."""
    measured = [sample for sample in samples if sample.phase == "measure"]
    grown = []
    for name in RESOURCES:
        values = [getattr(sample, name) for sample in measured]
        present = [float(value) for value in values if value is not None]
        if kept_growing(present):
            grown.append(name)
    return grown


def peak(samples: Sequence[Sample], name: str) -> float | None:
    values = [getattr(sample, name) for sample in samples]
    present = [value for value in values if value is not None]
    return max(present) if present else None


def failures_per_second(progress: list[tuple[float, int, int]]) -> list[tuple[float, float]]:
    """(seconds since the load started, failed requests per second) for each progress step."""
    if not progress:
        return []
    start = progress[0][0]
    rates = []
    for (t0, _, f0), (t1, _, f1) in pairwise(progress):
        if t1 - t0 >= 0.1:  # the quitting line can follow the last one by a sliver
            rates.append((t1 - start, (f1 - f0) / (t1 - t0)))
    return rates

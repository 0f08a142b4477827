"""From samples to judgements: the RSS slope per requests served, and counts that keep growing.

Growth is judged per requests served after warm-up (MB per 10k requests), never as one
absolute number: a build that serves more requests is not penalised, and a build whose
memory rises only while it starts is not called leaky.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise
from statistics import median

from load.judge.slopes import MIN_POINTS, Trend, pooled_trend
from load.probe.attribution import HeapPoint
from load.run.sampling import Sample

PER_10K = 10_000
# the heap's lowest point in each bucket of this many seconds is fitted (lower_envelope): an
# export in flight holds a batch of rows (thousands of blocks) for a second or more; longer
# buckets see fewer such peaks but give fewer points, and the interval stays wide until the
# run is long enough to tell
HEAP_BUCKET_S = 2.0


# a stretch of the load answering under this share of the usual request rate is a stall
STALLED_RATE = 0.1

RESOURCES = ("tasks", "db_connections", "pool_checked_out", "fds", "threads")


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
    """MB per 10k requests after warm-up: the median slope of memory against requests."""
    trend = rss_trend(samples)
    return None if trend is None else trend.slope


def rss_trend(samples: Sequence[Sample]) -> Trend | None:
    """MB per 10k requests after warm-up, with its confidence interval.

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
    segments: list[tuple[list[float], list[float]]]
    if any(born > samples[0].ts for born in first_seen(samples).values()):
        full = [sample for sample in measured if sample.workers == nominal]
        segments = [
            (
                [sample.requests for sample in full],
                [sum(sample.worker_anon_mb.values()) for sample in full],
            )
        ]
    else:
        lives: dict[int, tuple[list[float], list[float]]] = {}
        for sample in measured:
            for pid, anon in sample.worker_anon_mb.items():
                xs, ys = lives.setdefault(pid, ([], []))
                xs.append(sample.requests / nominal)
                ys.append(anon)
        segments = list(lives.values())
    trend = pooled_trend(segments)
    return None if trend is None else trend.scaled(PER_10K)


def peak_above_median(samples: Sequence[Sample]) -> float | None:
    """MB by which a worker's memory rose above its own median after warm-up and fell back.

    A request that holds data in proportion to its size (every row of a table, one body) shows
    as a tall spike that falls back: no slope, but the memory a production worker must have.
    A peak counts only when a later sample is back within a quarter of the rise (a climb is a
    slope's business), and a worker born after warm-up (recycled) is left out: its start-up
    climb is not a spike.
    """
    first = next((s.ts for s in samples if s.phase == "measure"), None)
    born = first_seen(samples)
    lives: dict[int, list[float]] = {}
    for sample in samples:
        if sample.phase == "measure":
            for pid, anon in sample.worker_anon_mb.items():
                if first is not None and born[pid] <= first:
                    lives.setdefault(pid, []).append(anon)
    peaks = [spike(values) for values in lives.values() if len(values) >= MIN_POINTS]
    return max(peaks) if peaks else None


def heap_peak_above_median(heap: Sequence[HeapPoint], samples: Sequence[Sample]) -> float | None:
    """Blocks by which a worker's heap rose above its own median after warm-up and fell back.

    The heap shows a request that holds every row at once where RSS may not: the allocator
    keeps the pages of the first such request, RSS sits on that plateau (its median), and later
    ones only reuse them; the heap gives the rows back each time. Workers born after warm-up
    are left out, as for RSS.
    """
    first = next((s.ts for s in samples if s.phase == "measure"), None)
    if first is None:
        return None
    born: dict[int, float] = {}
    lives: dict[int, list[float]] = {}
    for point in heap:
        born.setdefault(point.pid, point.ts)
        if point.ts >= first and born[point.pid] <= first:
            lives.setdefault(point.pid, []).append(float(point.blocks))
    peaks = [spike(values) for values in lives.values() if len(values) >= MIN_POINTS]
    return max(peaks) if peaks else None


def stalled_share(samples: Sequence[Sample]) -> float:
    """The share of the measured time in which the service all but stopped answering: requests
    done at under STALLED_RATE of its usual rate (the 75th percentile of its rates, so that
    stalls up to half the run do not lower it). Requests waiting on a pool that something holds
    neither fail nor finish until it is released or their timeout comes."""
    measured = [s for s in samples if s.phase == "measure"]
    rates = [
        ((b.requests - a.requests) / (b.ts - a.ts), b.ts - a.ts)
        for a, b in pairwise(measured)
        if b.ts > a.ts
    ]
    if len(rates) < MIN_POINTS:
        return 0.0
    ordered = sorted(rate for rate, _ in rates)
    usual = ordered[int(0.75 * (len(ordered) - 1))]
    if usual <= 0:
        return 0.0
    stalled = sum(span for rate, span in rates if rate < STALLED_RATE * usual)
    return stalled / sum(span for _, span in rates)


def spike(values: Sequence[float]) -> float:
    """How far the highest value rose above the median, if a later value came back within a
    quarter of the rise (a climb is a slope's business, not a spike); else 0."""
    level = median(values)
    top = max(range(len(values)), key=values.__getitem__)
    rise = values[top] - level
    fell_back = any(value <= level + rise / 4 for value in values[top + 1 :])
    return rise if fell_back else 0.0


def first_seen(samples: Sequence[Sample]) -> dict[int, float]:
    """When each worker pid first appears in the samples: a later one is a recycled life."""
    born: dict[int, float] = {}
    for sample in samples:
        for pid in sample.worker_anon_mb:
            born.setdefault(pid, sample.ts)
    return born


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


def requests_at(ts: float, progress: list[tuple[float, int, int]]) -> float:
    """The generator's request count at ``ts``, interpolated between progress lines."""
    times = [point[0] for point in progress]
    index = bisect_right(times, ts)
    if index == 0:
        return 0.0
    if index == len(times):
        return float(progress[-1][1])
    (t0, r0, _), (t1, r1, _) = progress[index - 1], progress[index]
    return r0 + ((ts - t0) / (t1 - t0) if t1 > t0 else 0.0) * (r1 - r0)


def lower_envelope(
    points: Sequence[tuple[float, float, float]], bucket_s: float
) -> tuple[list[float], list[float]]:
    """(requests, value) at the lowest value of each ``bucket_s`` of time.

    Requests in flight only ever add objects to the heap, and how many are in flight at a given
    instant is noise (an export's batch of rows is thousands of blocks). The lowest point of each
    bucket is the heap with the least in flight: what is kept, which is what a leak grows.
    """
    buckets: dict[int, tuple[float, float]] = {}
    counts: dict[int, int] = {}
    for ts, requests, value in points:
        key = int(ts // bucket_s)
        counts[key] = counts.get(key, 0) + 1
        if key not in buckets or value < buckets[key][1]:
            buckets[key] = (requests, value)
    # a bucket the window cut short (the first, the last) has few points to be low with
    typical = median(counts.values()) if counts else 0
    ordered = [buckets[key] for key in sorted(buckets) if counts[key] >= typical / 2]
    return [requests for requests, _ in ordered], [value for _, value in ordered]


def heap_trend(
    points: Sequence[HeapPoint], samples: Sequence[Sample], progress: list[tuple[float, int, int]]
) -> Trend | None:
    """Live interpreter blocks per 10k requests in the measured phase, with its interval.

    Fitted on each bucket's lowest count (``lower_envelope``), each worker against its share of
    the requests, one life each, like RSS; the measured phase is the samples' (after warm-up,
    before a tracing window or the cool-down).
    """
    measured = [sample.ts for sample in samples if sample.phase == "measure"]
    if not measured or not progress:
        return None
    workers = max(sample.workers for sample in samples if sample.phase == "measure") or 1
    # a worker started after warm-up (gunicorn recycled one) fills its pools and caches from
    # nothing: its climb is start-up, not growth, and is left out
    born: dict[int, float] = {}
    for point in points:
        born[point.pid] = min(born.get(point.pid, point.ts), point.ts)
    series: dict[int, list[tuple[float, float, float]]] = {}
    for point in points:
        if measured[0] <= point.ts <= measured[-1] and born[point.pid] <= measured[0]:
            requests = requests_at(point.ts, progress) / workers
            series.setdefault(point.pid, []).append((point.ts, requests, float(point.blocks)))
    lives = [lower_envelope(values, HEAP_BUCKET_S) for values in series.values()]
    trend = pooled_trend(lives)
    return None if trend is None else trend.scaled(PER_10K)

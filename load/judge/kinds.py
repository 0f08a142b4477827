"""What kind of growth a build shows, decided only when the evidence is clear either way.

- ``resource-leak``: connections, asyncio tasks or fds kept growing after warm-up, or the pool sat
  at its cap while requests failed or stalled (an exhausted pool stops growing: that is a leak's
  face too);
- ``object-leak``: the Python heap (the interpreter's live blocks) grows per request;
- ``allocator-retention``: RSS grows while the heap levels off: freed memory the allocator keeps,
  not objects anyone holds (docs/leaks.md, allocator-retention);
- ``memory-growth``: RSS grows and the heap was not traced (``--no-attribution``);
- ``peak-memory``: no slope, but a worker's memory rose far above its usual level and fell back:
  a request that holds data in proportion to its size (every row at once, one body);
- ``flat``: every interval lies below its limit and nothing kept growing;
- ``inconclusive``: an interval straddles its limit. The lab then runs longer, up to a cap.

A slope counts as growth when its whole confidence interval lies above the limit, as flat when
it lies below; bounded structures that fill (the cache, kept jobs, pools) level off and fail the
first test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from load.judge.analysis import (
    growing_resources,
    heap_peak_above_median,
    heap_trend,
    interpolate_requests,
    peak_above_median,
    rss_trend,
    stalled_share,
)
from load.judge.slopes import Trend
from load.probe.attribution import HeapPoint
from load.run.config import FLAT_MB_PER_10K, HEAP_FLAT_BLOCKS_PER_10K
from load.run.locust_process import Progress
from load.run.sampling import Sample

LEAK_KINDS = ("resource-leak", "object-leak", "allocator-retention", "memory-growth", "peak-memory")
# a worker whose memory rises this far above its median has held a request's data all at once
PEAK_MB = 12.0
# and so has one whose heap rises by this many blocks (about PEAK_MB of small objects; the fixed
# build's heap swings by a few tens of thousands with garbage and requests in flight)
PEAK_BLOCKS = 100_000
LEAKED_RESOURCES = ("tasks", "db_connections", "pool_checked_out", "fds")
# the phases with load running (the heap window included)
LOADED = ("warmup", "measure", "window")
# the pool is "pinned" when it sits at its cap in this share of the measured samples
PINNED_SHARE = 0.5
# and requests fail beyond this share (a saturated but healthy pool fails none)
PINNED_FAILED_SHARE = 0.01
# or it sits at its cap in this share of the samples while the service stalls in this share of
# the time (requests waiting for what the pool's holders never give back; a healthy one: none)
PINNED_STALLED_SHARE = 0.3
PINNED_STALLED = 0.2
# threads "pinned" stand at least this many per worker above their count before the load (a
# healthy async worker adds a few for name lookups; sync code blocked on a pool adds one per
# request it admits)
PINNED_EXTRA_THREADS = 8
# and count as at their plateau within this many of its top (a lookup's thread comes and goes)
PLATEAU_SLACK_THREADS = 2
# while more than this share of requests fail: a plateau alone says little, since AnyIO keeps an
# idle thread for 10 s and healthy ``def`` endpoints under steady load hold their peak count
PINNED_THREADS_FAILED_SHARE = 0.02
THREADS_PINNED = "threads pinned at a plateau while requests failed or stalled"


@dataclass
class Judgement:
    kind: str
    kinds: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    rss: Trend | None = None  # the trends it was decided on (MB / blocks per 10k requests)
    heap: Trend | None = None
    awaits_memory: bool = False  # see counts_may_fall_back
    # an object leak a collection under the load does not bear out yet (after_load.not_kept_yet)
    unconfirmed: str | None = None

    @property
    def conclusive(self) -> bool:
        return self.kind != "inconclusive"

    @property
    def open_question(self) -> str | None:
        """Why the load should run on, if it should: the verdict is unclear, or may become so."""
        if not self.conclusive:
            return self.reasons[-1] if self.reasons else "unclear"
        if self.awaits_memory:
            return "counts that may fall back after the load, with memory unclear"
        return self.unconfirmed


def held_at_cap(
    counts: Sequence[float | None],
    cap: float | None,
    failed_share: float,
    stalled: float = 0.0,
    failing: float = PINNED_FAILED_SHARE,
) -> bool:
    """A resource at its cap in most of the measured samples while requests fail, or at its cap
    a good part of the time while the service stalls: grown to a bound already, so it no longer
    grows, and the failures or the stalls say the bound is what requests wait on. A saturated
    pool that serves neither fails nor stalls."""
    known = [count for count in counts if count is not None]
    if not cap or not known:
        return False
    at_cap = sum(count >= cap for count in known) / len(known)
    if failed_share > failing:
        return at_cap >= PINNED_SHARE
    return stalled >= PINNED_STALLED and at_cap >= PINNED_STALLED_SHARE


def pinned_pool(samples: Sequence[Sample], pool_limit: int | None, failed_share: float) -> bool:
    counts = [s.pool_checked_out for s in samples if s.phase == "measure"]
    return held_at_cap(counts, pool_limit, failed_share, stalled_share(samples))


def idle_threads(samples: Sequence[Sample]) -> int | None:
    """The server's fewest threads before the load (None: no sample was taken then). The fewest,
    not the last: a sample is named idle until the lab has read the load's first progress line,
    so the last one or two may already be under load."""
    idle = [s.threads for s in samples if s.phase == "idle" and s.threads is not None]
    return min(idle) if idle else None


def pinned_threads(
    samples: Sequence[Sample], failed_share: float, before_load: int | None = None
) -> bool:
    """Threads held at a plateau well above where they stood before the load (``before_load``,
    else the run's fewest; PINNED_EXTRA_THREADS per worker) while requests fail or stall: sync
    code blocked on something only a blocked thread could release. The plateau is whatever
    bounds them (AnyIO's 40 threads, or an admission limit below it), so it is read from the
    run rather than assumed."""
    counts = [s.threads for s in samples if s.phase == "measure" and s.threads is not None]
    fewest = [s.threads for s in samples if s.phase in LOADED and s.threads is not None]
    if before_load is not None:
        fewest.append(before_load)
    if not counts:
        return False
    plateau = max(counts) - PLATEAU_SLACK_THREADS
    workers = max(s.workers for s in samples if s.phase == "measure") or 1
    if plateau - min(fewest) < PINNED_EXTRA_THREADS * workers:
        return False
    stalled = stalled_share(samples)
    return held_at_cap(counts, plateau, failed_share, stalled, PINNED_THREADS_FAILED_SHARE)


def interval(trend: Trend) -> str:
    return f"{trend.slope:+.2f} [{trend.low:+.2f}, {trend.high:+.2f}]"


def blocks(trend: Trend) -> str:
    return f"{trend.slope:+,.0f} [{trend.low:+,.0f}, {trend.high:+,.0f}]"


def classify(
    rss: Trend | None,
    heap: Trend | None,
    resources: list[str],
    pinned: bool,
    peak_mb: float | None = None,
    outside_pool: str | None = None,
    threads_pinned: bool = False,
    heap_peak: float | None = None,
) -> Judgement:
    """The kind from the two memory trends (RSS in MB, the heap in blocks, per 10k requests),
    the resources that grew, and the resources held past their bound."""
    judgement = Judgement(kind="inconclusive")
    leaked = [name for name in resources if name in LEAKED_RESOURCES]
    if pinned:
        leaked.append("pool pinned at its cap while requests failed or stalled")
    if outside_pool:
        leaked.append(outside_pool)
    if threads_pinned:
        leaked.append(THREADS_PINNED)
    judgement.resources = leaked
    if leaked:
        judgement.kinds.append("resource-leak")
        judgement.reasons.append("kept growing: " + ", ".join(leaked))
    rss_grows = rss is not None and rss.low > FLAT_MB_PER_10K
    rss_flat = rss is not None and rss.high <= FLAT_MB_PER_10K
    if heap is not None and heap.low > HEAP_FLAT_BLOCKS_PER_10K:
        judgement.kinds.append("object-leak")
        judgement.reasons.append(f"heap {blocks(heap)} blocks per 10k requests")
    elif (
        rss is not None and heap is not None and rss_grows and heap.high <= HEAP_FLAT_BLOCKS_PER_10K
    ):
        judgement.kinds.append("allocator-retention")
        judgement.reasons.append(
            f"RSS {interval(rss)} MB per 10k requests while the heap stays flat "
            f"({blocks(heap)} blocks)"
        )
    elif rss is not None and heap is None and rss_grows:
        judgement.kinds.append("memory-growth")
        judgement.reasons.append(f"RSS {interval(rss)} MB per 10k requests (heap not traced)")
    if peak_mb is not None and peak_mb >= PEAK_MB:
        judgement.kinds.append("peak-memory")
        judgement.reasons.append(
            f"a worker's memory rose {peak_mb:.1f} MB above its median and fell back "
            f"(at most {PEAK_MB:g} for a request that streams)"
        )
    elif heap_peak is not None and heap_peak >= PEAK_BLOCKS:
        judgement.kinds.append("peak-memory")
        judgement.reasons.append(
            f"a worker's heap rose {heap_peak:,.0f} blocks above its median and fell back "
            f"(at most {PEAK_BLOCKS:,} for a request that streams)"
        )
    if judgement.kinds:
        judgement.kind = judgement.kinds[0]
        return judgement
    heap_flat = heap is None or heap.high <= HEAP_FLAT_BLOCKS_PER_10K
    if rss_flat and heap_flat:
        judgement.kind = "flat"
        return judgement
    if rss is None:
        judgement.reasons.append("too few samples after warm-up to fit an RSS slope")
    else:
        judgement.reasons.append(
            f"RSS {interval(rss)} MB per 10k requests against a limit of {FLAT_MB_PER_10K:g}"
            + (
                ""
                if heap is None
                else f"; heap {blocks(heap)} blocks against {HEAP_FLAT_BLOCKS_PER_10K:g}"
            )
        )
    return judgement


def outside_pool(samples: Sequence[Sample], pool_limit: int | None) -> str | None:
    """Connections past what the build's pools allow: something opens its own (an engine per
    request that stopped growing at a bound is still holding them)."""
    counts = [s.db_connections for s in samples if s.phase == "measure" and s.db_connections]
    if not pool_limit or not counts or max(counts) <= pool_limit:
        return None
    return f"db connections beyond the pools ({max(counts)} of {pool_limit})"


def judge_samples(
    samples: Sequence[Sample],
    rss: Trend | None,
    heap: Trend | None,
    pool_limit: int | None,
    failed_share: float,
    heap_points: Sequence[HeapPoint] = (),
    threads_before_load: int | None = None,
) -> Judgement:
    judgement = classify(
        rss,
        heap,
        growing_resources(samples),
        pinned_pool(samples, pool_limit, failed_share),
        peak_above_median(samples),
        outside_pool(samples, pool_limit),
        pinned_threads(samples, failed_share, threads_before_load),
        heap_peak_above_median(heap_points, samples) if heap_points else None,
    )
    judgement.rss, judgement.heap = rss, heap
    return judgement


def counts_may_fall_back(judgement: Judgement, failed_share: float) -> bool:
    """A resource leak of growing counts alone, in a run where nothing failed, with its memory
    unclear. After the load, counts that fall back are let go as requests in flight
    (after_load.revised), and then the memory decides: an unclear one would leave the build
    ``inconclusive`` with the load already over. So the load runs on while it may."""
    if judgement.kind != "resource-leak" or failed_share > PINNED_FAILED_SHARE:
        return False
    if not all(name in LEAKED_RESOURCES for name in judgement.resources):
        return False  # pinned at a bound, or past the pools: not a count in flight
    return classify(judgement.rss, judgement.heap, [], pinned=False).kind == "inconclusive"


def judge_now(
    samples: list[Sample], heap: list[HeapPoint], progress: Progress, pool_limit: int | None
) -> Judgement:
    """The kind the samples so far support: is the evidence clear enough to stop the load?"""
    current = [sample for sample in samples if sample.phase != "idle"]
    interpolate_requests(current, progress)
    requests = progress[-1][1] if progress else 0
    failed_share = (progress[-1][2] / requests) if requests else 0.0
    judgement = judge_samples(
        current,
        rss_trend(current),
        heap_trend(heap, current, progress) if heap else None,
        pool_limit,
        failed_share,
        heap,
        idle_threads(samples),
    )
    judgement.awaits_memory = counts_may_fall_back(judgement, failed_share)
    return judgement

"""What the samples after the load show, and the verdicts they revise.

While the load runs, a count or a heap can grow for reasons that end with it: requests in flight
(more of them as a slowed machine queues them), jobs still running. A leak's growth stays after
the load and a full collection; what stays without objects is the allocator's. These rules read
the settled samples (after the load, after ``gc.collect()`` in every worker) and the heap's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import median

from load.judge.kinds import (
    LEAKED_RESOURCES,
    PINNED_FAILED_SHARE,
    THREADS_PINNED,
    Judgement,
    blocks,
    pinned_threads,
)
from load.judge.slopes import Trend
from load.probe.attribution import END_OF_LOAD, UNDER_LOAD, HeapPoint
from load.run.config import FLAT_MB_PER_10K, HEAP_FLAT_BLOCKS_PER_10K
from load.run.sampling import Sample

# RSS held this far above the end of warm-up after the load and a full collection, with the heap
# back, is memory the allocator kept; and the stretch of heap samples each end is read over
HELD_MB = 12.0
HEAP_WINDOW_S = 2.0
WARMUP_FILL = 0.1  # of the heap's blocks at the start: what warm-up fills is not kept objects
# a heap that grew during the load keeps at least this share of the growth after it, if kept
KEPT_SHARE = 0.25
# requests in flight rose during the load by at least this many, and this share of their number
# at its start: a queue, whose requests hold what the heap grew by until they are answered
IN_FLIGHT_ROSE = 2
IN_FLIGHT_ROSE_SHARE = 0.2
# a count that kept growing keeps at least this share of its growth after the load, if leaked
KEPT_COUNT_SHARE = 0.5
# fewer tasks than this in flight at the load's end tell too little of what one holds
MIN_TASKS_IN_FLIGHT = 2


@dataclass
class Kept:
    """What the heap kept from the end of warm-up to after the load, after gc.collect()."""

    blocks: float  # the settled heap less the one at the end of warm-up, without its requests
    in_flight: float  # what the requests in flight at the end of warm-up held (added back)
    requests: float  # served in between


def flat_allowance(kept: Kept) -> float:
    """The most a flat heap keeps over those requests."""
    return HEAP_FLAT_BLOCKS_PER_10K * kept.requests / 10_000


def least_kept(trend: Trend, requests: float) -> float:
    """What a heap that grew at ``trend`` keeps over ``requests`` at the least, if it leaked:
    KEPT_SHARE of the growth, and more than a flat heap would."""
    return max(KEPT_SHARE * trend.low, HEAP_FLAT_BLOCKS_PER_10K) * requests / 10_000


def kept_since_warmup(samples: Sequence[Sample], heap: Sequence[HeapPoint]) -> Kept | None:
    """The heap the load left behind, counted from the end of warm-up.

    The heap collected at the end of warm-up was taken under load: it holds what the requests
    in flight held then (tens of thousands of blocks), which the settled heap has let go. What
    they held at the load's end is the collected heap then (``END_OF_LOAD``) less the settled
    one; at the end of warm-up it is taken in proportion to the tasks in flight at each point,
    and at most as much: the warm-up's extra users are being stopped then, and their requests'
    tasks wind down holding less than a steady load's. None when a point is missing (no probe,
    a worker replaced, the load ended on its own).
    """
    measured = [s for s in samples if s.phase == "measure"]
    settled = [s for s in samples if s.phase == "settled"]
    if not measured or not settled:
        return None
    end = settled[-1].ts
    warm = {p.pid: p for p in collected_at(heap, measured[0].ts, measured[-1].ts)}
    ended = {p.pid: p for p in heap if p.collected and p.label == END_OF_LOAD}
    after = [p for p in heap if end - HEAP_WINDOW_S <= p.ts <= end]
    if not warm or warm.keys() != ended.keys() or warm.keys() != {p.pid for p in after}:
        return None
    lowest = _lowest(after)
    idle = {pid: min((p.tasks or 0) for p in after if p.pid == pid) for pid in lowest}
    held_at_end = sum(max(0, ended[pid].blocks - lowest[pid]) for pid in lowest)
    share = 1.0
    if all(p.tasks is not None for p in [*warm.values(), *ended.values()]):
        at_end = sum((ended[pid].tasks or 0) - idle[pid] for pid in lowest)
        at_warm = sum((warm[pid].tasks or 0) - idle[pid] for pid in lowest)
        if at_end >= MIN_TASKS_IN_FLIGHT:
            share = min(1.0, max(0, at_warm) / at_end)
    in_flight = held_at_end * share
    served = max(s.requests for s in samples) - measured[0].requests
    kept = sum(lowest.values()) - sum(p.blocks for p in warm.values()) + in_flight
    return Kept(blocks=kept, in_flight=in_flight, requests=served)


def held_without_objects(samples: Sequence[Sample], heap: Sequence[HeapPoint]) -> str | None:
    """Allocator retention seen after the load: RSS still well above where it was when the load
    began, after gc.collect() in every worker, while the heap's blocks came back (within what
    warm-up fills: pools, the bounded cache, kept jobs) and kept no more than a flat heap's
    share since the end of warm-up (kept_since_warmup, where it can be told).

    A process that builds big transient things on many threads climbs in steps that a slope
    can miss (the step may fall in warm-up, the heap swings by hundreds of thousands of blocks
    meanwhile); what it keeps afterwards is what the allocator held on to. A small object leak
    can keep fewer blocks than warm-up fills, but it keeps them per request.
    """
    loaded = [s for s in samples if s.phase in ("warmup", "measure")]
    settled = [s for s in samples if s.phase == "settled"]
    if not loaded or not settled or not heap:
        return None
    held_mb = settled[-1].rss_mb - median(s.rss_mb for s in loaded[:3])
    start, end = loaded[0].ts, settled[-1].ts
    before = [p for p in heap if start <= p.ts <= start + HEAP_WINDOW_S]
    after = [p for p in heap if end - HEAP_WINDOW_S <= p.ts <= end]
    if held_mb < HELD_MB or not before or not after:
        return None
    grown = _blocks_total(after) - _blocks_total(before)
    if grown > max(HEAP_FLAT_BLOCKS_PER_10K, WARMUP_FILL * _blocks_total(before)):
        return None
    kept = kept_since_warmup(samples, heap)
    if kept is not None and kept.blocks > flat_allowance(kept):
        return None
    return (
        f"RSS held {held_mb:.1f} MB above the start of the load after gc.collect(), while the heap "
        f"came back ({grown:+,.0f} blocks)"
    )


def heap_came_back(
    samples: Sequence[Sample], heap: Sequence[HeapPoint], trend: Trend | None
) -> str | None:
    """Heap growth that did not outlast the load: after it, and a full collection, the same
    workers' heap kept less than KEPT_SHARE of what the trend grew since the end of warm-up, or
    no more than a flat heap would (kept_since_warmup: what requests in flight held then is
    counted in). What grew was garbage not yet collected or what requests in flight held; a
    leak's objects stay. None when that cannot be told (no settled samples, a worker replaced)
    or did not happen.
    """
    if trend is None or trend.low <= 0:
        return None
    kept = kept_since_warmup(samples, heap)
    if kept is None:
        return _heap_came_back_without_the_end(samples, heap, trend)
    if kept.blocks > least_kept(trend, kept.requests):
        return None
    return (
        f"the heap grew during the load ({blocks(trend)} blocks per 10k requests) and came back "
        f"after it ({kept.blocks:+,.0f} blocks after gc.collect(), counting the "
        f"{kept.in_flight:,.0f} that requests in flight held at the end of warm-up): garbage "
        f"or requests in flight, not kept objects"
    )


def not_kept_yet(
    samples: Sequence[Sample], heap: Sequence[HeapPoint], trend: Trend | None
) -> str | None:
    """An object leak seen under the load that a collection does not bear out yet: the heap
    collected now (``UNDER_LOAD``, which the lab asks for before it calls the leak) kept no more
    since the one at the end of warm-up than heap_came_back lets go after the load. Both were
    collected under the same load, so what its requests in flight hold is in each.

    The growth is then garbage between full collections, or a leak too small to tell yet from
    what requests in flight hold: after the load the heap would look "back" and leave the build
    unclear, with no load left to tell. So the load runs on while it may.
    """
    if trend is None or trend.low <= 0:
        return None
    measured = [s for s in samples if s.phase == "measure"]
    if not measured:
        return None
    warm = {p.pid: p for p in collected_at(heap, measured[0].ts, measured[-1].ts)}
    now = {p.pid: p for p in heap if p.collected and p.label == UNDER_LOAD}  # each one's latest
    if not warm or warm.keys() != now.keys():
        return None
    requests = measured[-1].requests - measured[0].requests
    kept = sum(now[pid].blocks - warm[pid].blocks for pid in warm)
    if kept > least_kept(trend, requests):
        return None
    return (
        f"the heap grew ({blocks(trend)} blocks per 10k requests), but collected under the load "
        f"it kept {kept:+,.0f} blocks since the end of warm-up: not yet kept objects"
    )


def _heap_came_back_without_the_end(
    samples: Sequence[Sample], heap: Sequence[HeapPoint], trend: Trend
) -> str | None:
    """heap_came_back when the load's end has no collected heap (the load ended on its own): the
    settled heap against the one collected at the end of warm-up, requests in flight and all.

    Back means at or below it, unless more requests were in flight at the load's end than at
    its start (a slowed machine queued them): then within KEPT_SHARE of the growth. Without a
    queue, what a short run leaked can be less than the requests in flight at its start held,
    and a heap only near its start may have leaked.
    """
    measured = [s for s in samples if s.phase == "measure"]
    settled = [s for s in samples if s.phase == "settled"]
    if not measured or not settled or not heap:
        return None
    queued = in_flight_rose(measured) is not False
    start, end = measured[0].ts, settled[-1].ts
    before = collected_at(heap, start, measured[-1].ts) or [
        p for p in heap if start <= p.ts <= start + HEAP_WINDOW_S
    ]
    after = [p for p in heap if end - HEAP_WINDOW_S <= p.ts <= end]
    if not before or not after or {p.pid for p in before} != {p.pid for p in after}:
        return None
    grown = trend.low * (measured[-1].requests - measured[0].requests) / 10_000
    kept = _blocks_total(after) - _blocks_total(before)
    if kept > (KEPT_SHARE * grown if queued else 0.0):
        return None
    held = "requests in flight" if queued else "garbage or requests in flight"
    return (
        f"the heap grew during the load ({blocks(trend)} blocks per 10k requests) and came back "
        f"after it ({kept:+,.0f} blocks after gc.collect()): {held}, not kept objects"
    )


def in_flight_rose(measured: Sequence[Sample]) -> bool | None:
    """Whether the requests in flight (the workers' asyncio tasks) rose during the measured load,
    as when a slowed machine queues them: the last third's median against the first third's.
    None when the tasks were not counted."""
    counts = [s.tasks for s in measured if s.tasks is not None]
    third = len(counts) // 3
    if not third:
        return None
    first, last = median(counts[:third]), median(counts[2 * third :])
    return last - first >= max(IN_FLIGHT_ROSE, IN_FLIGHT_ROSE_SHARE * first)


def collected_at(heap: Sequence[HeapPoint], start: float, end: float) -> list[HeapPoint]:
    """Each worker's first heap taken right after a gc.collect() from the start of the measured
    load (the lab's at the end of warm-up) to its end. Garbage waiting for a collection comes and
    goes by tens of thousands of blocks under load; the settled heap has none, and neither
    must what it is compared with, or a leak smaller than the garbage looks gone."""
    first: dict[int, HeapPoint] = {}
    for point in heap:
        at_warmup_end = point.collected and point.label not in (END_OF_LOAD, UNDER_LOAD)
        if at_warmup_end and start - HEAP_WINDOW_S <= point.ts <= end:
            first.setdefault(point.pid, point)
    return list(first.values())


def _lowest(points: Sequence[HeapPoint]) -> dict[int, int]:
    """Each worker's lowest block count in a stretch of time."""
    lowest: dict[int, int] = {}
    for point in points:
        lowest[point.pid] = min(lowest.get(point.pid, point.blocks), point.blocks)
    return lowest


def _blocks_total(points: Sequence[HeapPoint]) -> float:
    """The workers' lowest block counts in a stretch of time, summed."""
    return float(sum(_lowest(points).values()))


def resources_let_go(samples: Sequence[Sample], resources: Sequence[str]) -> list[str]:
    """The counts that kept growing under the load but fell back after it: tasks of requests in
    flight and jobs that finished, connections handed back. A leaked task, connection or socket
    is still there after the load; one that is gone was not leaked."""
    measured = [s for s in samples if s.phase == "measure"]
    settled = [s for s in samples if s.phase == "settled"]
    let_go = []
    for name in resources:
        if name not in LEAKED_RESOURCES or not settled:
            continue
        during = [float(v) for v in (getattr(s, name) for s in measured) if v is not None]
        after = [float(v) for v in (getattr(s, name) for s in settled) if v is not None]
        third = len(during) // 3
        if not third or not after:
            continue
        first, last = median(during[:third]), median(during[2 * third :])
        if after[-1] - first < KEPT_COUNT_SHARE * (last - first):
            let_go.append(name)
    return let_go


def without_kind(judgement: Judgement, kind: str, reason: str) -> Judgement:
    """The judgement once one kind's growth is known to be transient: its other kinds stand."""
    kinds = [each for each in judgement.kinds if each != kind]
    rss, heap = judgement.rss, judgement.heap
    if kinds:
        decided = kinds[0]
    elif (rss is not None and rss.high <= FLAT_MB_PER_10K) and (
        heap is None or heap.high <= HEAP_FLAT_BLOCKS_PER_10K or kind == "object-leak"
    ):
        decided = "flat"
    else:
        decided = "inconclusive"
    return replace(judgement, kind=decided, kinds=kinds, reasons=[*judgement.reasons, reason])


def with_pinned_threads(
    judgement: Judgement,
    samples: Sequence[Sample],
    failed_share: float,
    threads_before_load: int | None,
) -> Judgement:
    """The judgement, with threads pinned if the whole run's failures show it. Requests blocked
    on a pool fail at its timeout, in waves, so at the load's decision too few may have failed
    yet to name the threads (docs/lab.md, threadpool-deadlock under the admission limit)."""
    if THREADS_PINNED in judgement.resources:
        return judgement
    if not pinned_threads(samples, failed_share, threads_before_load):
        return judgement
    kinds = [*judgement.kinds]
    if "resource-leak" not in kinds:
        kinds.insert(0, "resource-leak")  # first, as classify puts it
    return replace(
        judgement,
        kind=kinds[0],
        kinds=kinds,
        resources=[*judgement.resources, THREADS_PINNED],
        reasons=[*judgement.reasons, f"over the whole run: {THREADS_PINNED}"],
    )


def revised(
    judgement: Judgement,
    samples: Sequence[Sample],
    heap: Sequence[HeapPoint],
    failed_share: float = 0.0,
    threads_before_load: int | None = None,
) -> Judgement:
    """The judgement made under the load, revised by what stayed after it, and by the whole
    run's failures."""
    judgement = with_pinned_threads(judgement, samples, failed_share, threads_before_load)
    came_back = heap_came_back(samples, heap, judgement.heap) if judgement.heap else None
    if came_back and "object-leak" in judgement.kinds:
        judgement = without_kind(judgement, "object-leak", came_back)
    # counts that fell back are let go only where nobody was hurt: a pool drained by open
    # downloads also refills once they end, but while it was held requests failed
    healthy = failed_share <= PINNED_FAILED_SHARE
    let_go = resources_let_go(samples, judgement.resources) if healthy else []
    if let_go:
        kept = [name for name in judgement.resources if name not in let_go]
        reason = f"fell back after the load: {', '.join(let_go)} (in flight, not leaked)"
        judgement = replace(judgement, resources=kept)
        if not kept and "resource-leak" in judgement.kinds:
            judgement = without_kind(judgement, "resource-leak", reason)
        else:
            judgement = replace(judgement, reasons=[*judgement.reasons, reason])
    held = held_without_objects(samples, heap)
    if held and judgement.kind in ("flat", "inconclusive"):  # only the settled samples show it
        judgement = replace(
            judgement, kind="allocator-retention", kinds=["allocator-retention"], reasons=[held]
        )
    return judgement

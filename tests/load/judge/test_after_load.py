"""The rules that read what stayed after the load: growth that outlasts it is a leak's, growth
that ends with it was requests in flight, and RSS kept without objects is the allocator's."""

from __future__ import annotations

from dataclasses import replace

from load.judge.after_load import (
    collected_at,
    heap_came_back,
    held_without_objects,
    kept_since_warmup,
    not_kept_yet,
    resources_let_go,
    revised,
    without_kind,
)
from load.judge.kinds import THREADS_PINNED, classify
from load.judge.slopes import Trend
from load.probe.attribution import END_OF_LOAD, UNDER_LOAD, HeapPoint
from load.run.sampling import Sample
from tests.load.judge.test_kinds import FLAT_HEAP, FLAT_RSS, GROWING_HEAP, threads_climbing_to
from tests.load.samples import series


def test_rss_held_after_gc_with_the_heap_back_is_allocator_retention() -> None:
    samples = series(40, rss=lambda i: 80.0 + (20.0 if i > 10 else 0.0))
    samples.append(replace(samples[-1], ts=samples[-1].ts + 1.0, phase="settled", rss_mb=100.0))
    start, end = samples[0].ts, samples[-1].ts
    back = [HeapPoint(start + 0.5, 1000, 400_000), HeapPoint(end - 0.5, 1000, 401_000)]
    said = held_without_objects(samples, back)
    assert said is not None
    assert said.startswith("RSS held 20.0 MB above the start of the load")
    kept = [HeapPoint(start + 0.5, 1000, 400_000), HeapPoint(end - 0.5, 1000, 460_000)]
    assert held_without_objects(samples, kept) is None  # objects stayed: not the allocator


def queueing(i: int) -> int:
    """Requests in flight rising as a slowed machine queues them: 10, then up to 29."""
    return 10 + i // 2


def test_heap_growth_that_the_load_took_with_it_is_not_an_object_leak() -> None:
    queued = series(40, rss=lambda _i: 80.0, requests_per_sample=1_000, tasks=queueing)
    samples = [*queued, replace(queued[-1], ts=queued[-1].ts + 1.0, phase="settled", tasks=3)]
    start, end = samples[0].ts, samples[-1].ts
    trend = Trend(15_000.0, 5_000.0, 30_000.0)  # at least 19,500 blocks over the run
    back = [HeapPoint(start + 0.5, 1000, 474_000), HeapPoint(end - 0.5, 1000, 468_000)]
    said = heap_came_back(samples, back, trend)
    assert said is not None
    assert "came back after it (-6,000 blocks" in said
    stayed = [HeapPoint(start + 0.5, 1000, 474_000), HeapPoint(end - 0.5, 1000, 494_000)]
    assert heap_came_back(samples, stayed, trend) is None  # a leak's objects stay
    replaced = [HeapPoint(start + 0.5, 1000, 474_000), HeapPoint(end - 0.5, 1001, 100_000)]
    assert heap_came_back(samples, replaced, trend) is None  # a new worker starts from nothing
    steady = series(40, rss=lambda _i: 80.0, requests_per_sample=1_000, tasks=lambda i: 20 + i % 3)
    steady.append(replace(steady[-1], ts=steady[-1].ts + 1.0, phase="settled", tasks=3))
    near = [HeapPoint(start + 0.5, 1000, 474_000), HeapPoint(end - 0.5, 1000, 476_000)]
    assert heap_came_back(samples, near, trend) is not None  # within a queue's share of growth
    assert heap_came_back(steady, near, trend) is None  # no queue: what was in flight at the
    # start may have held more than a short run leaked, so only a heap not above it is back
    said_steady = heap_came_back(steady, back, trend)
    assert said_steady is not None
    assert said_steady.endswith("garbage or requests in flight, not kept objects")
    grown = classify(FLAT_RSS, GROWING_HEAP, [], pinned=False)
    grown.rss = FLAT_RSS  # as judge_samples keeps it
    judged = without_kind(grown, "object-leak", said)
    assert (judged.kind, judged.kinds, judged.reasons[-1]) == ("flat", [], said)
    both = classify(FLAT_RSS, GROWING_HEAP, ["tasks"], pinned=False)
    assert without_kind(both, "object-leak", said).kind == "resource-leak"


def test_the_heap_after_the_load_is_compared_with_a_collected_heap_at_its_start() -> None:
    """Garbage waiting for a collection under load can outweigh what a short run leaked: the
    settled heap has none, and the reference taken after the lab's gc.collect() has none."""
    queued = series(40, rss=lambda _i: 80.0, requests_per_sample=250, tasks=queueing)
    samples = [*queued, replace(queued[-1], ts=queued[-1].ts + 1.0, phase="settled", tasks=3)]
    start, end = samples[0].ts, samples[-1].ts
    trend = Trend(15_000.0, 5_000.0, 30_000.0)  # at least 4,875 blocks over the run
    with_garbage = HeapPoint(start + 0.2, 1000, 520_000)  # lowest while the load ran
    collected = HeapPoint(start + 0.6, 1000, 490_000, collected=True)
    after = HeapPoint(end - 0.5, 1000, 504_000)  # 14,000 blocks kept
    assert heap_came_back(samples, [with_garbage, after], trend) is not None  # wrongly gone
    assert heap_came_back(samples, [with_garbage, collected, after], trend) is None
    gone = HeapPoint(end - 0.5, 1000, 491_000)
    assert heap_came_back(samples, [with_garbage, collected, gone], trend) is not None
    assert collected_at([with_garbage, collected, after], start, end) == [collected]


def settled(samples: list[Sample], *, tasks: int) -> list[Sample]:
    """The samples, then one taken after the load with that many tasks."""
    return [*samples, replace(samples[-1], ts=samples[-1].ts + 1.0, phase="settled", tasks=tasks)]


def test_tasks_that_end_with_the_load_were_in_flight_not_leaked() -> None:
    busier = series(30, rss=lambda _i: 80.0, tasks=lambda i: 8 + i // 2)  # 8 rising to 22
    assert resources_let_go(settled(busier, tasks=10), ["tasks"]) == ["tasks"]
    assert resources_let_go(settled(busier, tasks=21), ["tasks"]) == []  # kept: leaked
    assert resources_let_go(busier, ["tasks"]) == []  # nothing after the load: no say


def test_a_resource_leak_whose_counts_all_fell_back_is_judged_on_the_rest() -> None:
    busier = settled(series(30, rss=lambda _i: 80.0, tasks=lambda i: 8 + i // 2), tasks=10)
    grown = classify(FLAT_RSS, FLAT_HEAP, ["tasks"], pinned=False)
    grown.rss, grown.heap = FLAT_RSS, FLAT_HEAP  # as judge_samples keeps them
    judged = revised(grown, busier, [])
    assert (judged.kind, judged.resources) == ("flat", [])
    assert judged.reasons[-1] == "fell back after the load: tasks (in flight, not leaked)"
    # held while requests failed (a pool drained by open downloads): the harm was done
    assert revised(grown, busier, [], failed_share=0.02).kind == "resource-leak"
    pinned = classify(FLAT_RSS, FLAT_HEAP, ["tasks"], pinned=True)
    pinned.rss, pinned.heap = FLAT_RSS, FLAT_HEAP
    still = revised(pinned, busier, [])  # a pool pinned while requests failed stays a leak
    assert (still.kind, still.resources) == (
        "resource-leak",
        ["pool pinned at its cap while requests failed or stalled"],
    )


def warm_end_and_settled(
    samples: list[Sample], *, warm: tuple[int, int], end: tuple[int, int], after: int
) -> list[HeapPoint]:
    """A worker's three collected heaps as (blocks, tasks): at the end of warm-up and at the
    load's end, both under load, and after it (3 tasks left: the server's own)."""
    start, last = samples[0].ts, samples[-1].ts
    return [
        HeapPoint(start + 0.6, 1000, warm[0], collected=True, tasks=warm[1]),
        HeapPoint(last - 2.0, 1000, end[0], collected=True, tasks=end[1], label=END_OF_LOAD),
        HeapPoint(last - 0.5, 1000, after, collected=True, tasks=3),
    ]


def test_what_requests_in_flight_held_at_the_end_of_warm_up_is_not_taken_for_a_heap_come_back() -> (
    None
):
    """A small leak kept less than the requests in flight held when warm-up ended: the settled
    heap is below that reference, yet the leak's objects are there. What one task in flight
    holds is read at the load's end (its collected heap less the settled one)."""
    steady = series(40, rss=lambda _i: 80.0, requests_per_sample=250, tasks=lambda _i: 20)
    samples = settled(steady, tasks=3)
    trend = Trend(12_000.0, 5_000.0, 20_000.0)  # at least 4,875 blocks over the measured load
    # 1,000 blocks for each of 17 requests in flight; 10,000 kept by the leak
    leak = warm_end_and_settled(samples, warm=(497_000, 20), end=(507_000, 20), after=490_000)
    kept = kept_since_warmup(samples, leak)
    assert kept is not None
    assert (kept.blocks, kept.in_flight, kept.requests) == (10_000, 17_000, 9_750)
    assert heap_came_back(samples, leak, trend) is None
    nothing = warm_end_and_settled(samples, warm=(497_000, 20), end=(497_000, 20), after=480_000)
    said = heap_came_back(samples, nothing, trend)
    assert said is not None
    assert "came back after it (+0 blocks" in said
    # a few thousand either way is what the estimate of the requests in flight is good to
    noise = warm_end_and_settled(samples, warm=(497_000, 20), end=(501_000, 20), after=484_000)
    assert heap_came_back(samples, noise, trend) is not None
    # a queue: 7 in flight at the end of warm-up, 27 at the load's end; the same leak
    queued = warm_end_and_settled(samples, warm=(487_000, 10), end=(517_000, 30), after=490_000)
    assert kept_since_warmup(samples, queued) == replace(kept, in_flight=7_000)
    assert heap_came_back(samples, queued, trend) is None
    # more tasks at the end of warm-up (the warm-up's extra users winding down) count as no
    # more in flight than at the load's end: a fixed build that kept nothing is back
    winding = warm_end_and_settled(samples, warm=(497_000, 33), end=(497_000, 20), after=480_000)
    assert kept_since_warmup(samples, winding) == replace(kept, blocks=0)
    # without the load's end, the old reference stands: the leak looks gone
    assert kept_since_warmup(samples, [leak[0], leak[2]]) is None
    assert heap_came_back(samples, [leak[0], leak[2]], trend) is not None


def test_a_small_leak_that_keeps_its_blocks_per_request_is_not_allocator_retention() -> None:
    """RSS held after the load while the heap is within what warm-up fills of the load's start:
    the allocator's, unless the heap kept blocks per request since the end of warm-up."""
    loaded = series(40, rss=lambda i: 80.0 + (20.0 if i > 10 else 0.0), requests_per_sample=250)
    samples = settled(loaded, tasks=3)
    at_start = HeapPoint(samples[0].ts + 0.5, 1000, 470_000, tasks=20)
    leak = warm_end_and_settled(samples, warm=(497_000, 20), end=(507_000, 20), after=490_000)
    assert held_without_objects(samples, [at_start, leak[0], leak[2]]) is not None  # unknown
    assert held_without_objects(samples, [at_start, *leak]) is None  # 10,000 kept: a leak's
    nothing = warm_end_and_settled(samples, warm=(497_000, 20), end=(499_000, 20), after=482_000)
    assert held_without_objects(samples, [at_start, *nothing]) is not None


def test_an_object_leak_under_the_load_waits_until_a_collection_bears_it_out() -> None:
    """The heap's slope under a short load can be garbage between full collections: a collected
    heap under the load, against the one at the end of warm-up, must have kept what a leak
    keeps (a quarter of the growth, and more than a flat heap) before the leak is called."""
    samples = series(40, rss=lambda _i: 80.0, requests_per_sample=250)  # 9,750 measured
    start, end = samples[0].ts, samples[-1].ts
    trend = Trend(40_000.0, 30_000.0, 49_000.0)  # at least 7,313 blocks kept over the load
    warm = HeapPoint(start + 0.6, 1000, 503_000, collected=True)

    def now(blocks: int) -> HeapPoint:
        return HeapPoint(end - 0.2, 1000, blocks, collected=True, label=UNDER_LOAD)

    said = not_kept_yet(samples, [warm, now(508_000)], trend)
    assert said is not None
    assert "kept +5,000 blocks since the end of warm-up" in said
    assert not_kept_yet(samples, [warm, now(512_000)], trend) is None  # kept: a leak's face
    # each worker's latest collection counts, and only a collection asked for under the load
    assert not_kept_yet(samples, [warm, now(508_000), now(512_000)], trend) is None
    assert not_kept_yet(samples, [warm, replace(now(508_000), label="")], trend) is None
    # one of two workers without a collection now, or a slope not above nothing: no say
    other = HeapPoint(start + 0.6, 1001, 503_000, collected=True)
    assert not_kept_yet(samples, [warm, other, now(508_000)], trend) is None
    assert not_kept_yet(samples, [warm, now(508_000)], Trend(1.0, -5.0, 9.0)) is None
    # the collection under the load is never taken for the reference at the end of warm-up
    assert collected_at([now(508_000), warm], start, end) == [warm]
    grown = classify(FLAT_RSS, GROWING_HEAP, [], pinned=False)
    grown.unconfirmed = said
    assert (grown.kind, grown.open_question) == ("object-leak", said)  # the load runs on


def test_threads_pinned_show_by_the_whole_run_s_failures_when_the_decision_came_too_early() -> None:
    """Blocked requests fail at the pool's timeout, in waves: 1.7% had failed at the decision,
    4.3% by the end. The whole run's share names the threads; a healthy share does not."""
    blocked = threads_climbing_to(21)
    outside = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, outside_pool="db connections")
    outside.rss, outside.heap = FLAT_RSS, FLAT_HEAP
    judged = revised(outside, blocked, [], failed_share=0.043, threads_before_load=6)
    assert (judged.kind, judged.resources) == ("resource-leak", ["db connections", THREADS_PINNED])
    assert judged.reasons[-1] == f"over the whole run: {THREADS_PINNED}"
    assert revised(outside, blocked, [], failed_share=0.017, threads_before_load=6) == outside
    flat = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False)
    flat.rss, flat.heap = FLAT_RSS, FLAT_HEAP
    assert revised(flat, blocked, [], failed_share=0.043, threads_before_load=6).kinds == [
        "resource-leak"
    ]
    named = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, threads_pinned=True)
    again = revised(named, blocked, [], failed_share=0.043, threads_before_load=6)
    assert again.resources == [THREADS_PINNED]  # named once

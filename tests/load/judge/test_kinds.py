"""The three-way decision on synthetic trends: growth and flatness need the whole interval."""

from __future__ import annotations

from load.judge.analysis import heap_peak_above_median, peak_above_median, stalled_share
from load.judge.kinds import (
    classify,
    counts_may_fall_back,
    idle_threads,
    outside_pool,
    pinned_pool,
    pinned_threads,
)
from load.judge.slopes import Trend
from load.probe.attribution import HeapPoint
from load.run.config import FLAT_MB_PER_10K, HEAP_FLAT_BLOCKS_PER_10K
from load.run.sampling import Sample
from tests.load.samples import series

FLAT_RSS = Trend(0.1, -0.2, 0.4)
FLAT_HEAP = Trend(100.0, -500.0, 800.0)
GROWING_HEAP = Trend(40_000.0, 30_000.0, 50_000.0)
GROWING_RSS = Trend(12.0, 9.0, 15.0)


def test_flat_needs_both_intervals_below_their_limits() -> None:
    assert classify(FLAT_RSS, FLAT_HEAP, [], pinned=False).kind == "flat"


def test_a_growing_heap_is_an_object_leak_whatever_rss_does() -> None:
    judged = classify(FLAT_RSS, GROWING_HEAP, [], pinned=False)
    assert judged.kind == "object-leak"
    assert "blocks per 10k requests" in judged.reasons[0]


def test_rss_up_with_the_heap_flat_is_allocator_retention_not_a_leak_of_objects() -> None:
    judged = classify(GROWING_RSS, FLAT_HEAP, [], pinned=False)
    assert judged.kind == "allocator-retention"
    assert "heap stays flat" in judged.reasons[0]


def test_rss_up_with_the_heap_unclear_is_not_called_allocator_retention() -> None:
    straddling = Trend(HEAP_FLAT_BLOCKS_PER_10K, 0.0, 3 * HEAP_FLAT_BLOCKS_PER_10K)
    assert classify(GROWING_RSS, straddling, [], pinned=False).kind == "inconclusive"


def test_without_a_heap_rss_growth_is_memory_growth() -> None:
    assert classify(GROWING_RSS, None, [], pinned=False).kind == "memory-growth"
    assert classify(FLAT_RSS, None, [], pinned=False).kind == "flat"


def test_an_interval_across_the_limit_is_inconclusive() -> None:
    across = Trend(FLAT_MB_PER_10K, 0.2, 2 * FLAT_MB_PER_10K)
    judged = classify(across, FLAT_HEAP, [], pinned=False)
    assert judged.kind == "inconclusive"
    assert "limit of 1" in judged.reasons[0]
    assert classify(None, None, [], pinned=False).kind == "inconclusive"


def test_resources_come_first_and_are_named() -> None:
    judged = classify(FLAT_RSS, GROWING_HEAP, ["tasks", "threads"], pinned=False)
    assert judged.kind == "resource-leak"
    assert judged.kinds == ["resource-leak", "object-leak"]
    assert judged.resources == ["tasks"]  # threads rising alone is not a leak of anything


def test_a_pool_pinned_at_its_cap_while_requests_fail_is_a_resource_leak() -> None:
    judged = classify(FLAT_RSS, FLAT_HEAP, [], pinned=True)
    assert judged.kind == "resource-leak"
    assert judged.resources == ["pool pinned at its cap while requests failed or stalled"]


def test_pinned_needs_the_cap_most_of_the_time_and_failures() -> None:
    at_cap = series(40, rss=lambda _i: 80.0)
    for sample in at_cap:
        sample.pool_checked_out = 15
    assert pinned_pool(at_cap, 15, failed_share=0.05)
    assert not pinned_pool(at_cap, 15, failed_share=0.0)  # saturated but serving: healthy
    half = series(40, rss=lambda _i: 80.0)
    for index, sample in enumerate(half):
        sample.pool_checked_out = 15 if index % 3 == 0 else 4
    assert not pinned_pool(half, 15, failed_share=0.05)


def test_a_pool_at_its_cap_while_the_service_stalls_is_pinned_though_nothing_failed() -> None:
    """Requests waiting for connections that slow downloads hold neither fail nor finish: the
    service answers in bursts between stalls, and the pool sits at its cap meanwhile."""
    stalling = series(40, rss=lambda _i: 80.0)
    served = 0.0
    for index, sample in enumerate(stalling):
        stalled = (index // 5) % 2 == 1  # five samples answering, five waiting, and again
        served += 0.0 if stalled else 100.0
        sample.requests = served
        sample.pool_checked_out = 15 if stalled else 6
    assert stalled_share(stalling) >= 0.4
    assert pinned_pool(stalling, 15, failed_share=0.0)
    steady = series(40, rss=lambda _i: 80.0)
    for index, sample in enumerate(steady):
        sample.pool_checked_out = 15 if index % 2 else 6
    assert stalled_share(steady) == 0.0
    assert not pinned_pool(steady, 15, failed_share=0.0)  # at its cap half the time, serving


def test_a_heap_that_rises_far_and_falls_back_is_peak_memory_where_rss_stays_up() -> None:
    """The allocator keeps the pages of the first export that held every row: RSS stays on that
    plateau, while the heap gives the rows back after each one."""
    samples = series(40, rss=lambda _i: 107.0, warmup=4)
    start = samples[4].ts
    heap = [HeapPoint(start - 1.0, 7, 480_000)] + [
        HeapPoint(start + i * 0.1, 7, 480_000 + (195_000 if i == 50 else i % 7 * 3_000))
        for i in range(100)
    ]
    rise = heap_peak_above_median(heap, samples)
    assert rise is not None
    assert rise > 180_000
    judged = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, heap_peak=rise)
    assert judged.kind == "peak-memory"
    assert "heap rose" in judged.reasons[0]
    swings = [HeapPoint(p.ts, p.pid, p.blocks if p.blocks < 600_000 else 500_000) for p in heap]
    assert classify(FLAT_RSS, FLAT_HEAP, [], pinned=False,
                    heap_peak=heap_peak_above_median(swings, samples)).kind == "flat"  # fmt: skip


def test_a_tall_spike_that_falls_back_is_peak_memory_not_flat() -> None:
    judged = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, peak_mb=30.0)
    assert judged.kind == "peak-memory"
    assert "rose 30.0 MB above its median" in judged.reasons[0]
    assert classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, peak_mb=3.0).kind == "flat"


def test_peaks_are_measured_per_worker_above_its_own_median() -> None:
    spiky = series(40, rss=lambda i: 80.0 + (25.0 if i == 20 else 0.0))
    assert peak_above_median(spiky) == 25.0
    assert peak_above_median(series(40, rss=lambda _i: 80.0)) == 0.0


def test_connections_past_the_pools_are_a_resource_leak_even_at_a_bound() -> None:
    bounded = series(40, rss=lambda _i: 80.0, db_connections=lambda _i: 36)
    said = outside_pool(bounded, 15)
    assert said == "db connections beyond the pools (36 of 15)"
    judged = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, outside_pool=said)
    assert judged.kind == "resource-leak"
    assert outside_pool(series(40, rss=lambda _i: 80.0), 15) is None


def threads_climbing_to(plateau: int, start: int = 6) -> list[Sample]:
    """A run whose threads start at ``start`` and climb two per sample in warm-up to ``plateau``,
    where they stay: sync requests blocked on a pool, up to whatever bounds them."""
    samples = series(40, rss=lambda _i: 80.0, warmup=10)
    for index, sample in enumerate(samples):
        sample.threads = min(start + index * 2, plateau)
    return samples


def test_threads_held_at_a_plateau_while_requests_fail_are_a_resource_leak() -> None:
    for plateau in (21, 46):  # an admission limit of 15 below AnyIO's 40; AnyIO's 40 itself
        blocked = threads_climbing_to(plateau)
        assert pinned_threads(blocked, failed_share=0.03), plateau
        assert not pinned_threads(blocked, failed_share=0.0)  # busy threads that serve: healthy
        # a few shed or timed-out requests beside sync endpoints that keep their idle threads
        assert not pinned_threads(blocked, failed_share=0.015)
    judged = classify(FLAT_RSS, FLAT_HEAP, [], pinned=False, threads_pinned=True)
    assert judged.kind == "resource-leak"
    assert judged.resources[0].startswith("threads pinned")


def test_threads_already_up_at_the_first_sample_are_measured_from_before_the_load() -> None:
    """Blocked reads can take their threads within the first quarter second of load."""
    blocked = threads_climbing_to(21, start=16)
    assert not pinned_threads(blocked, failed_share=0.03)  # 16 to 21 alone: a few lookups
    idle = series(4, rss=lambda _i: 80.0)
    for sample in idle:
        sample.phase, sample.threads = "idle", 6
    idle[-1].threads = 16  # named idle, but taken after the load began
    assert idle_threads([*idle, *blocked]) == 6
    assert idle_threads(blocked) is None
    assert pinned_threads(blocked, failed_share=0.03, before_load=6)


def test_a_thread_that_comes_and_goes_does_not_hide_the_plateau() -> None:
    blocked = threads_climbing_to(21)
    blocked[25].threads = 23  # one name lookup's thread, once
    assert pinned_threads(blocked, failed_share=0.03, before_load=6)


def test_the_margin_above_the_start_is_per_worker() -> None:
    """Threads are summed over a server's workers; each worker's lookups add a few."""
    two_workers = threads_climbing_to(24, start=12)
    assert pinned_threads(two_workers, failed_share=0.03)  # +12 in one worker's count
    for sample in two_workers:
        sample.worker_anon_mb = {1001: 80.0, 1002: 80.0}
    assert not pinned_threads(two_workers, failed_share=0.03)  # +6 a worker
    blocked = threads_climbing_to(42, start=12)  # two workers, 15 blocked reads each
    for sample in blocked:
        sample.worker_anon_mb = {1001: 80.0, 1002: 80.0}
    assert pinned_threads(blocked, failed_share=0.03)


def test_threads_are_pinned_only_well_above_where_the_run_started() -> None:
    assert not pinned_threads(series(40, rss=lambda _i: 80.0), failed_share=0.03)  # flat at 8
    lookups = threads_climbing_to(10)  # a few more for name lookups, then steady
    assert not pinned_threads(lookups, failed_share=0.03)
    wandering = threads_climbing_to(30)  # sync code at work: the count moves with the load
    for index, sample in enumerate(wandering[10:]):
        sample.threads = 30 if index % 3 == 0 else 18
    assert not pinned_threads(wandering, failed_share=0.03)


def test_a_healthy_run_whose_counts_grew_runs_on_while_its_memory_is_unclear() -> None:
    """Counts in flight fall back after the load and are let go; then the memory must decide."""
    straddling = Trend(3_000.0, 300.0, 6_000.0)
    counted = classify(FLAT_RSS, straddling, ["pool_checked_out"], pinned=False)
    counted.rss, counted.heap = FLAT_RSS, straddling  # as judge_samples keeps them
    assert counted.kind == "resource-leak"
    assert counts_may_fall_back(counted, failed_share=0.0)
    counted.awaits_memory = True
    assert counted.open_question is not None
    assert "fall back" in counted.open_question
    assert not counts_may_fall_back(counted, failed_share=0.05)  # failures: the counts stand
    clear = classify(FLAT_RSS, FLAT_HEAP, ["pool_checked_out"], pinned=False)
    clear.rss, clear.heap = FLAT_RSS, FLAT_HEAP
    assert not counts_may_fall_back(clear, failed_share=0.0)  # flat memory decides already
    pinned = classify(FLAT_RSS, straddling, [], pinned=True)
    pinned.rss, pinned.heap = FLAT_RSS, straddling
    assert not counts_may_fall_back(pinned, failed_share=0.0)  # held at a bound: no count
    assert classify(FLAT_RSS, FLAT_HEAP, [], pinned=False).open_question is None
    assert classify(FLAT_RSS, straddling, [], pinned=False).open_question

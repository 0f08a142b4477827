from __future__ import annotations

import random

import pytest

from load.judge.analysis import (
    failures_per_second,
    growing_resources,
    heap_trend,
    interpolate_requests,
    kept_growing,
    lower_envelope,
    recycled,
    rss_slope_mb_per_10k,
)
from load.probe.attribution import HeapPoint
from tests.load.samples import series


def test_rss_slope_is_mb_per_10k_requests_after_warm_up() -> None:
    # flat at 300 MB during warm-up, then +0.5 MB every 100 requests = 50 MB per 10k
    samples = series(60, rss=lambda i: 300.0 + max(0, i - 20) * 0.5, warmup=20)
    assert rss_slope_mb_per_10k(samples) == pytest.approx(50.0)


def test_rss_slope_ignores_what_happened_during_warm_up() -> None:
    samples = series(60, rss=lambda i: 100.0 + i * 5 if i < 20 else 200.0, warmup=20)
    assert rss_slope_mb_per_10k(samples) == pytest.approx(0.0)


def test_two_workers_growing_alike_give_the_slope_per_request_of_the_whole() -> None:
    # each of two workers serves half of the 100 requests per sample and grows 0.5 MB
    samples = series(40, rss=lambda i: 100.0 + i * 0.5, pids=lambda _i: [2000, 2001])
    assert rss_slope_mb_per_10k(samples) == pytest.approx(100.0)


def test_recycling_bounds_the_slope_it_hides_the_growth_of_each_life() -> None:
    # two workers, replaced every 10 samples, each life climbing 1 MB per sample (200 MB per
    # 10k of its requests): across the restarts the total only saws up and down
    def pids(i: int) -> list[int]:
        generation = i // 10
        return [2000 + 2 * generation, 2001 + 2 * generation]

    samples = series(60, rss=lambda i: 100.0 + (i % 10) * 1.0, pids=pids)
    assert recycled(samples)
    slope = rss_slope_mb_per_10k(samples)
    assert slope is not None
    assert abs(slope) < 0.25 * 200


def test_kept_growing_tells_a_climb_from_a_plateau_and_from_noise() -> None:
    assert kept_growing([float(v) for v in range(10, 70)])
    assert not kept_growing([float(min(v, 15)) for v in range(60)])  # hits its limit early
    noise = random.Random(3)
    assert not kept_growing([20.0 + noise.randint(-4, 4) for _ in range(60)])
    assert not kept_growing([1.0, 2.0, 3.0])  # too few samples to say


def test_growing_resources_names_only_the_counts_that_climb() -> None:
    samples = series(40, rss=lambda _i: 100.0, tasks=lambda i: 10 + 5 * i)
    assert growing_resources(samples) == ["tasks"]


def test_growing_resources_skips_missing_inside_values() -> None:
    samples = series(40, rss=lambda _i: 100.0, tasks=lambda _i: None)
    assert growing_resources(samples) == []


def test_samples_get_the_request_counts_interpolated_at_their_time() -> None:
    samples = series(3, rss=lambda _i: 1.0)  # at t = 1000.0, 1000.25, 1000.5
    progress = [(999.0, 0, 0), (1000.5, 300, 30)]
    interpolate_requests(samples, progress)
    assert [s.requests for s in samples] == [200.0, 250.0, 300.0]
    assert [s.failures for s in samples] == [20.0, 25.0, 30.0]


def test_failures_per_second_is_the_rate_between_progress_lines() -> None:
    progress = [(10.0, 0, 0), (10.5, 50, 5), (11.5, 150, 5)]
    assert failures_per_second(progress) == [(0.5, 10.0), (1.5, 0.0)]


def test_the_lower_envelope_ignores_what_is_in_flight() -> None:
    # a flat heap of 1000 blocks with bursts of in-flight objects on top, one bucket in three
    points = []
    for i in range(200):
        in_flight = 800.0 if (i // 10) % 3 else 0.0
        points.append((i * 0.1, i * 10.0, 1000.0 + in_flight * (i % 2)))
    requests, floors = lower_envelope(points, bucket_s=1.0)
    assert len(floors) == 20
    assert set(floors) == {1000.0}
    assert requests == sorted(requests)


def test_a_worker_born_after_warm_up_does_not_lend_its_start_up_to_the_heap() -> None:
    samples = series(80, rss=lambda _i: 80.0, warmup=8)
    progress = [(sample.ts, int(sample.requests), 0) for sample in samples]
    start = samples[8].ts
    steady = [HeapPoint(s.ts, 1, 400_000) for s in samples]
    # a recycled worker: born mid-run, its heap climbs from nothing as its caches fill
    newborn = [HeapPoint(s.ts, 2, 100_000 + 5_000 * i) for i, s in enumerate(samples[40:])]
    trend = heap_trend(steady + newborn, samples, progress)
    assert trend is not None
    assert trend.high <= 1.0
    assert start < newborn[0].ts

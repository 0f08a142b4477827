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
    median_slope,
    pooled_slope,
    pooled_trend,
    recycled,
    rss_slope_mb_per_10k,
)
from load.probe.attribution import HeapPoint
from tests.load.samples import series


def test_median_slope_recovers_a_line_through_noise() -> None:
    noise = random.Random(7)
    xs = [float(x) for x in range(200)]
    ys = [3.0 + 0.5 * x + noise.uniform(-1, 1) for x in xs]
    slope = median_slope(xs, ys)
    assert slope == pytest.approx(0.5, abs=0.01)


def test_one_spike_does_not_make_a_flat_series_grow() -> None:
    # flat at 70.5 MB, one sample 1.9 MB high just before the end (seen in a quick compare)
    xs = [float(100 * i) for i in range(28)]
    ys = [70.5] * 28
    ys[-2] = 72.4
    slope = median_slope(xs, ys)
    assert slope == pytest.approx(0.0)
    # a least-squares line through the same points climbs
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    assert sxy / sum((x - mean_x) ** 2 for x in xs) * 10_000 > 0.5


def test_median_slope_is_undefined_without_spread_or_points() -> None:
    assert median_slope([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    assert median_slope([1.0, 2.0], [1.0, 2.0]) is None


def test_a_long_series_is_thinned_and_keeps_its_slope() -> None:
    xs = [float(x) for x in range(5_000)]
    assert median_slope(xs, [2.0 * x + (x % 7) for x in xs]) == pytest.approx(2.0, abs=0.01)


def test_pooled_slope_sees_growth_inside_a_saw_tooth() -> None:
    # three lives that each climb 2 per step and restart low: one line through all is ~flat
    lives = [
        ([float(x) for x in range(s, s + 10)], [2.0 * x for x in range(10)]) for s in (0, 10, 20)
    ]
    everything_x = [x for xs, _ in lives for x in xs]
    everything_y = [y for _, ys in lives for y in ys]
    one_line = median_slope(everything_x, everything_y)
    assert one_line is not None
    assert one_line < 1.0
    assert pooled_slope(lives) == pytest.approx(2.0)


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


def test_the_interval_holds_the_true_slope_and_excludes_zero_for_a_climb() -> None:
    noise = random.Random(11)
    xs = [float(x) for x in range(120)]
    ys = [50.0 + 0.02 * x + noise.gauss(0, 0.3) for x in xs]
    trend = pooled_trend([(xs, ys)])
    assert trend is not None
    assert trend.low <= 0.02 <= trend.high
    assert trend.low > 0


def test_the_interval_of_noise_straddles_zero() -> None:
    noise = random.Random(12)
    xs = [float(x) for x in range(120)]
    trend = pooled_trend([(xs, [50.0 + noise.gauss(0, 0.3) for _ in xs])])
    assert trend is not None
    assert trend.low < 0 < trend.high


def test_fewer_points_give_a_wider_interval() -> None:
    noise = random.Random(13)
    many = [float(x) for x in range(60)]
    few = many[::6]

    def width(xs: list[float]) -> float:
        trend = pooled_trend([(xs, [0.01 * x + noise.gauss(0, 0.3) for x in xs])])
        assert trend is not None
        return trend.high - trend.low

    assert width(few) > width(many)


def test_too_few_points_give_no_trend() -> None:
    assert pooled_trend([([1.0, 2.0], [1.0, 2.0])]) is None


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


@pytest.mark.parametrize("shape", [(61,), (60, 60, 60), (10,) * 10])
def test_the_interval_covers_the_true_slope_about_95_times_in_100(shape: tuple[int, ...]) -> None:
    # thinned or pooled, the interval must be neither too narrow nor the whole range
    noise = random.Random(sum(shape))
    covered = 0
    for _ in range(200):
        segments = []
        for length in shape:
            xs = [float(x) for x in range(length)]
            level = noise.uniform(0, 100)
            segments.append((xs, [level + 0.05 * x + noise.gauss(0, 1) for x in xs]))
        trend = pooled_trend(segments)
        assert trend is not None
        covered += trend.low <= 0.05 <= trend.high
    assert 0.88 <= covered / 200 <= 0.99


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

from __future__ import annotations

import random

import pytest

from load.judge.slopes import median_slope, pooled_slope, pooled_trend


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

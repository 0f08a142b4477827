"""Slopes that a spike cannot fake: Theil-Sen, pooled over a worker's lives, with Sen's
confidence interval. Pure arithmetic on (x, y) series; the lab's series are in analysis.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist, median

MIN_POINTS = 3
MAX_POINTS = 400
# points kept for the confidence interval: samples a quarter second apart are not independent,
# and Sen's interval assumes they are; fewer, further-apart points keep it honest
CI_POINTS = 60
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Trend:
    """A slope and its confidence interval (Sen 1968, from Kendall's tau): growth is
    established only when ``low`` is above a limit, flatness only when ``high`` is below it."""

    slope: float
    low: float
    high: float

    def scaled(self, factor: float) -> Trend:
        return Trend(self.slope * factor, self.low * factor, self.high * factor)


def median_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The Theil-Sen slope: the median of the slopes between every two points; None when there
    are too few points or no spread.

    A leak is a steady climb, so nearly every pair of points sees it; a one-off spike (an
    allocator high-water mark, a collection) moves only the pairs it belongs to. A least-squares
    line is pulled by one outlier near either end (docs/bench.md, "The lab's slope", has the
    run that showed it).
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
    slopes, _ = _pair_slopes(segments, MAX_POINTS)
    return median(slopes) if slopes else None


def pooled_trend(
    segments: Sequence[tuple[Sequence[float], Sequence[float]]], confidence: float = CONFIDENCE
) -> Trend | None:
    """``pooled_slope`` with Sen's confidence interval, on at most CI_POINTS points per segment.

    The interval is the band of ranked pair slopes that Kendall's statistic allows around the
    median; with several segments, only pairs within one are ranked, and the statistic's
    variance is the sum of each segment's.
    """
    slope = pooled_slope(segments)
    pair_slopes, variance = _pair_slopes(segments, CI_POINTS)
    slopes = sorted(pair_slopes)
    if slope is None or not slopes:
        return None
    spread = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(variance)
    pairs = len(slopes)
    low = slopes[max(0, min(pairs - 1, round((pairs - spread) / 2) - 1))]
    high = slopes[max(0, min(pairs - 1, round((pairs + spread) / 2)))]
    return Trend(slope, min(low, slope), max(high, slope))


def _pair_slopes(
    segments: Sequence[tuple[Sequence[float], Sequence[float]]], max_points: int
) -> tuple[list[float], float]:
    """Every pair slope within each segment, on at most ``max_points`` evenly spaced points of
    it, and the variance of Kendall's statistic over those segments."""
    slopes: list[float] = []
    variance = 0.0
    for xs, ys in segments:
        if len(xs) < MIN_POINTS:
            continue
        kept = min(len(xs), max_points)
        picks = sorted({round(i * (len(xs) - 1) / (kept - 1)) for i in range(kept)})
        points = [(xs[i], ys[i]) for i in picks]
        count = len(points)
        variance += count * (count - 1) * (2 * count + 5) / 18
        for (x0, y0), (x1, y1) in combinations(points, 2):
            if x1 != x0:
                slopes.append((y1 - y0) / (x1 - x0))
    return slopes, variance

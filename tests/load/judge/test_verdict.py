from __future__ import annotations

from typing import Any

from load.judge.verdict import judge_compare, judge_soak
from load.run.config import FLAT_MB_PER_10K, LEAK_FACTOR


def build(**values: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "requests": 30_000,
        "failures": 0,
        "rss_slope_mb_per_10k": 0.1,
        "retained_after_gc_mb": 0.2,
        "peak_pool_checked_out": 8,
        "peak_db_connections": 11,
        "peak_tasks": 25,
        "pool_limit": 15,
        "worker_restarts": 0,
        "growing": [],
    }
    summary.update(values)
    return summary


def test_a_flat_fixed_build_and_a_climbing_twin_pass() -> None:
    verdict = judge_compare(build(), build(rss_slope_mb_per_10k=40.0))
    assert verdict.ok, verdict.reasons
    assert any("leaky: leaks shown" in reason for reason in verdict.as_json()["reasons"])


def test_a_passing_headline_names_both_findings() -> None:
    verdict = judge_compare(build(), build(rss_slope_mb_per_10k=40.0, failures=9))
    assert verdict.headline.startswith("fixed: flat, RSS +0.10 MB per 10k")
    assert "leaky: leaks shown, RSS grew 40.00 MB per 10k requests" in verdict.headline
    assert "failed" not in verdict.headline


def test_a_fixed_build_above_the_flat_limit_fails_and_says_so_first() -> None:
    verdict = judge_compare(
        build(rss_slope_mb_per_10k=FLAT_MB_PER_10K + 0.5), build(rss_slope_mb_per_10k=400.0)
    )
    assert not verdict.ok
    assert verdict.headline.startswith("fixed: RSS grew 1.50 MB per 10k")


def test_the_twin_needs_ten_times_the_fixed_slope() -> None:
    fixed = build(rss_slope_mb_per_10k=0.5)
    short = judge_compare(fixed, build(rss_slope_mb_per_10k=0.5 * LEAK_FACTOR - 0.1))
    enough = judge_compare(fixed, build(rss_slope_mb_per_10k=0.5 * LEAK_FACTOR))
    assert not short.ok
    assert short.headline.startswith("leaky: no leak shown")
    assert enough.ok


def test_ten_times_a_flat_nothing_is_not_a_leak() -> None:
    # the fixed build's slope is ~0: the twin must still exceed the flat limit itself
    verdict = judge_compare(build(rss_slope_mb_per_10k=0.01), build(rss_slope_mb_per_10k=0.5))
    assert not verdict.ok


def test_a_twin_whose_tasks_keep_growing_shows_its_leak_without_a_slope() -> None:
    verdict = judge_compare(
        build(), build(rss_slope_mb_per_10k=0.2, growing=["tasks"], peak_tasks=900)
    )
    assert verdict.ok
    assert any("tasks (peak 900)" in reason for reason in verdict.as_json()["reasons"])


def test_a_twin_whose_leak_recycling_bounded_is_told_so() -> None:
    verdict = judge_compare(build(), build(rss_slope_mb_per_10k=0.3, worker_restarts=6))
    assert not verdict.ok
    assert "6 worker restarts bounded its memory" in verdict.headline


def test_fixed_build_connections_beyond_its_pool_fail() -> None:
    verdict = judge_compare(build(peak_db_connections=40), build(rss_slope_mb_per_10k=50.0))
    assert not verdict.ok
    assert "more than its pools allow (15)" in verdict.headline


def test_fixed_build_tasks_that_keep_growing_fail() -> None:
    verdict = judge_compare(build(growing=["tasks"]), build(rss_slope_mb_per_10k=50.0))
    assert not verdict.ok
    assert "asyncio tasks kept growing" in verdict.headline


def test_too_few_samples_to_fit_is_a_failure_that_names_the_fix() -> None:
    verdict = judge_compare(build(rss_slope_mb_per_10k=None), build(rss_slope_mb_per_10k=50.0))
    assert not verdict.ok
    assert "--duration" in verdict.headline


def test_soak_judges_one_build_alone() -> None:
    assert judge_soak("fixed", build()).ok
    leaking = judge_soak("leaky", build(rss_slope_mb_per_10k=30.0))
    assert not leaking.ok
    assert set(leaking.as_json()) == {"ok", "outcome", "reasons", "headline"}
    assert leaking.as_json()["reasons"][0].startswith("leaky: RSS grew 30.00 MB")


def test_a_fixed_build_whose_server_died_fails_however_flat_its_memory() -> None:
    verdict = judge_compare(build(server_died=True), build(rss_slope_mb_per_10k=30.0))
    assert not verdict.ok
    assert "the server died" in verdict.reasons[0]


def test_a_fixed_build_failing_its_requests_fails_and_a_few_failures_do_not() -> None:
    failing = judge_compare(
        build(requests=10_000, failures=7_000), build(rss_slope_mb_per_10k=30.0)
    )
    assert not failing.ok
    assert "7000 of 10000 requests failed" in failing.reasons[0]
    few = judge_compare(build(requests=10_000, failures=3), build(rss_slope_mb_per_10k=30.0))
    assert few.ok, few.reasons

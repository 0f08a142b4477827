"""compare --a --b: b is flat, b still leaks, b leaks more than a, or b is unclear."""

from __future__ import annotations

from typing import Any

from load.judge.fix import judge_fix


def build(kind: str, **fields: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "kind": kind,
        "kind_reasons": [],
        "requests": 10_000,
        "failures": 0,
        "server_died": False,
        "rss_slope_mb_per_10k": 0.1,
        "rss_slope_ci": [0.0, 0.2],
        "load_seconds": 40.0,
    }
    summary.update(fields)
    return summary


LEAKING = build(
    "object-leak",
    kind_reasons=["heap +70,000 [+67,000, +71,000] blocks per 10k requests"],
    heap_slope_blocks_ci=[67_000, 71_000],
    leak_sites=[{"file": "notes.py", "line": 11, "growth_mb": 0.12}],
)


def test_a_fix_that_worked_passes_and_says_what_a_did() -> None:
    verdict = judge_fix("git:HEAD~1", LEAKING, "git:HEAD", build("flat"))
    assert verdict.outcome == "PASS"
    reasons = verdict.as_json()["reasons"]
    assert reasons[0].startswith("b is flat: b (git:HEAD): flat, RSS +0.10 MB per 10k")
    assert reasons[1].startswith("a (git:HEAD~1): leaks shown, object-leak")
    assert "notes.py:11" in verdict.headline  # the leak that was fixed, in the one line


def test_a_fix_that_did_not_work_still_leaks() -> None:
    after = build("object-leak", heap_slope_blocks_ci=[60_000, 72_000])
    verdict = judge_fix("git:HEAD~1", LEAKING, "git:HEAD", after)
    assert verdict.outcome == "FAIL"
    assert verdict.headline.startswith("b still leaks: b (git:HEAD) object-leak")


def test_b_leaks_more_when_a_was_flat_or_b_grows_wholly_faster() -> None:
    after = build("object-leak", heap_slope_blocks_ci=[90_000, 95_000])
    assert judge_fix("a:app", LEAKING, "b:app", after).headline.startswith(
        "b leaks more than a: b (b:app)"
    )
    regression = judge_fix("a:app", build("flat"), "b:app", build("resource-leak"))
    assert regression.outcome == "FAIL"
    assert regression.headline.startswith("b leaks more than a")
    assert "a (a:app): note, flat" in regression.as_json()["reasons"]


def test_without_heap_slopes_the_rss_intervals_decide() -> None:
    a = build("memory-growth", rss_slope_ci=[2.0, 3.0])
    faster = build("memory-growth", rss_slope_ci=[3.5, 4.0])
    overlapping = build("memory-growth", rss_slope_ci=[2.5, 4.0])
    assert judge_fix("a", a, "b", faster).headline.startswith("b leaks more than a")
    assert judge_fix("a", a, "b", overlapping).headline.startswith("b still leaks")


def test_a_flat_b_that_failed_its_requests_is_no_fix() -> None:
    verdict = judge_fix("a", LEAKING, "b", build("flat", failures=500))
    assert verdict.outcome == "FAIL"
    assert verdict.headline == (
        "b (b): 500 of 10000 requests failed (more than 1%); see top_failures in summary.json"
    )


def test_an_unclear_b_is_inconclusive() -> None:
    verdict = judge_fix("a", LEAKING, "b", build("inconclusive", kind_reasons=["RSS straddles"]))
    assert verdict.outcome == "INCONCLUSIVE"
    assert verdict.headline.startswith("b is unclear: b (b): inconclusive after 40.0 s")

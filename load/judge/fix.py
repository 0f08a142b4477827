"""The verdict of ``compare --a SPEC --b SPEC``: did my fix fix it?

``a`` is the revision (or app) before, ``b`` the one after. The question is about ``b``:

- **b is flat** (PASS): b stayed up, failed at most 1% of its requests, and its kind is ``flat``;
- **b still leaks** (FAIL): b grows, and no less than a did;
- **b leaks more than a** (FAIL): b grows where a did not, or b's slope lies wholly above a's
  (the heap's when both were traced, else RSS);
- b's evidence stayed unclear up to ``--max-duration``: INCONCLUSIVE.

What a did is told beside it: a fix is shown when a leaked and b is flat. It reads the per-build
summaries, as the other verdicts do.
"""

from __future__ import annotations

from load.judge.kinds import LEAK_KINDS
from load.judge.verdict import (
    Summary,
    Verdict,
    describe_kind,
    flat_text,
    inconclusive_text,
    judge_serving,
)


def _above(b: Summary, a: Summary, key: str) -> bool:
    """b's interval for ``key`` lies wholly above a's."""
    b_interval, a_interval = b.get(key), a.get(key)
    return bool(b_interval and a_interval and b_interval[0] > a_interval[1])


def leaks_more(a: Summary, b: Summary) -> bool:
    """b grows where a did not, or faster than a by the whole of both intervals."""
    if a.get("kind") not in LEAK_KINDS:
        return True
    if a.get("heap_slope_blocks_ci") and b.get("heap_slope_blocks_ci"):
        return _above(b, a, "heap_slope_blocks_ci")
    return _above(b, a, "rss_slope_ci")


def before(a_name: str, a: Summary) -> str:
    """What a did, beside b's verdict (a leak shown in a is part of the headline)."""
    if a.get("kind") in LEAK_KINDS:
        return f"a ({a_name}): leaks shown, {describe_kind(a)}"
    return f"a ({a_name}): note, {a.get('kind')}"


def judge_fix(a_name: str, a: Summary, b_name: str, b: Summary) -> Verdict:
    verdict = Verdict()
    kind = b.get("kind")
    if kind in LEAK_KINDS:  # the headline: the first failing reason
        more = leaks_more(a, b)
        verdict.fail(
            f"b {'leaks more than a' if more else 'still leaks'}: b ({b_name}) {describe_kind(b)}"
        )
    judge_serving(f"b ({b_name})", b, verdict)  # flat memory of a dead or failing b is no fix
    if kind == "flat" and verdict.ok:
        verdict.pass_(f"b is flat: {flat_text(f'b ({b_name})', b)}")
    elif kind == "inconclusive":
        verdict.unsure(f"b is unclear: {inconclusive_text(f'b ({b_name})', b)}")
    verdict.pass_(before(a_name, a))
    return verdict

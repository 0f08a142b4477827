"""The verdict: did the fixed build stay flat, and did the twin show its leaks?

It reads the per-build summaries (the ``builds`` part of summary.json), so a script can re-judge
an old report. Failing reasons come first: the first one is the line the command prints.

- Flat (the fixed build, or the one build of a soak): the server stayed up and failed at most
  MAX_FAILED_SHARE of its requests, RSS slope after warm-up at most FLAT_MB_PER_10K,
  connections within what its pools allow, asyncio tasks not growing.
- Leaking (the twin): a slope at least LEAK_FACTOR times the fixed build's (and beyond the flat
  limit itself, so that ten times nothing is still nothing), or a resource count that kept
  growing after warm-up.

A summary that carries a ``kind`` (load/judge/kinds.py: decided from confidence intervals) is judged
by it: flat must be ``flat``, leaking must be one of the leak kinds, and ``inconclusive`` is
neither a pass nor a failure (exit code EXIT_INCONCLUSIVE). Older summaries keep the rules above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from load.run.config import FLAT_MB_PER_10K, LEAK_FACTOR
from load.run.recycling import judge_recycling

Summary = dict[str, Any]
# below this the fixed build's slope is noise, and "N times" it would be a meaningless number
RATIO_FLOOR = 0.1
# a flat build answers: past this share of failed requests something else is wrong
# (a few connections closed by worker recycling stay far below it)
MAX_FAILED_SHARE = 0.01


@dataclass
class Verdict:
    ok: bool = True
    reasons: list[str] = field(default_factory=list)
    _passed: list[str] = field(default_factory=list)
    failures: int = 0
    inconclusive: bool = False
    _unsure: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.ok = False
        self.failures += 1
        self.reasons.append(reason)

    def unsure(self, reason: str) -> None:
        """Not enough evidence either way, even after running longer: neither pass nor fail."""
        self.ok = False
        self.inconclusive = True
        self._unsure.append(reason)

    def pass_(self, reason: str) -> None:
        self._passed.append(reason)

    @property
    def outcome(self) -> str:
        if self.ok:
            return "PASS"
        return "FAIL" if self.failures else "INCONCLUSIVE"

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "outcome": self.outcome,
            "reasons": self.reasons + self._unsure + self._passed,
            "headline": self.headline,
        }

    @property
    def headline(self) -> str:
        """The deciding reason: the first failure, else the first unclear build, or every
        finding when all passed."""
        if not self.ok:
            return (self.reasons + self._unsure)[0]
        findings = [reason for reason in self._passed if ": note," not in reason]
        return "; ".join(findings[:1] + [f for f in findings[1:] if "leaks shown" in f])


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def judge_serving(name: str, build: Summary, verdict: Verdict) -> None:
    """A build judged flat must also have stayed up and answered: memory that stays flat
    because the server is dead, or busy failing, is not a healthy service."""
    if build.get("server_died"):
        reason = build.get("server_died_reason") or (
            "the server died during the run (its log is in the report folder)"
        )
        verdict.fail(f"{name}: {reason}")
    requests, failures = build.get("requests") or 0, build.get("failures") or 0
    if requests and failures / requests > MAX_FAILED_SHARE:
        verdict.fail(
            f"{name}: {failures} of {requests} requests failed "
            f"(more than {MAX_FAILED_SHARE:.0%}); see top_failures in summary.json"
        )


def where(build: Summary) -> str:
    """The top site and the top holder, as the report's one-line answer to "where?"."""
    found = []
    sites = build.get("leak_sites") or []
    if sites:
        top = sites[0]
        found.append(f"top site {top['file']}:{top['line']} (+{top['growth_mb']:.2f} MB)")
    held = [t for t in build.get("growing_types") or [] if t.get("held_by")]
    if held:
        written = held[0].get("written_at") or []
        found.append(
            f"held by {held[0]['held_by']}" + (f", written at {written[0]}" if written else "")
        )
    return "; ".join(found)


def describe_kind(build: Summary) -> str:
    kind = str(build["kind"])
    details = "; ".join(build.get("kind_reasons") or [])
    place = where(build)
    return kind + (f" ({details})" if details else "") + (f"; {place}" if place else "")


def flat_text(name: str, build: Summary) -> str:
    """A flat build's line: its RSS slope, interval and limit, and its heap's slope."""
    heap = build.get("heap_slope_mb_per_10k")
    return (
        f"{name}: flat, RSS {_signed(build.get('rss_slope_mb_per_10k'))} MB per 10k requests "
        f"after warm-up (interval {_ci(build.get('rss_slope_ci'))}, limit {FLAT_MB_PER_10K:g})"
        + ("" if heap is None else f", heap {_signed(heap)}")
    )


def inconclusive_text(name: str, build: Summary) -> str:
    return (
        f"{name}: inconclusive after {build.get('load_seconds')} s of load: "
        + "; ".join(build.get("kind_reasons") or [])
        + "; run longer with --duration or --max-duration"
    )


def judge_flat_kind(name: str, build: Summary, verdict: Verdict) -> None:
    judge_serving(name, build, verdict)
    kind = build["kind"]
    if kind == "flat":
        verdict.pass_(flat_text(name, build))
    elif kind == "inconclusive":
        verdict.unsure(inconclusive_text(name, build))
    else:
        verdict.fail(f"{name}: {describe_kind(build)}")


def judge_leaking_kind(name: str, build: Summary, verdict: Verdict) -> None:
    kind = build["kind"]
    if kind == "flat":
        verdict.fail(
            f"{name}: no leak shown, flat: RSS {_signed(build.get('rss_slope_mb_per_10k'))} "
            f"MB per 10k requests (interval {_ci(build.get('rss_slope_ci'))})"
        )
    elif kind == "inconclusive":
        verdict.unsure(
            f"{name}: inconclusive after {build.get('load_seconds')} s of load: "
            + "; ".join(build.get("kind_reasons") or [])
        )
    else:
        verdict.pass_(f"{name}: leaks shown, {describe_kind(build)}")
    if build.get("failures"):
        verdict.pass_(f"{name}: {build['failures']} of {build.get('requests')} requests failed")


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _ci(interval: list[float] | None) -> str:
    return "n/a" if not interval else f"[{interval[0]:+.2f}, {interval[1]:+.2f}]"


def judge_flat(name: str, build: Summary, verdict: Verdict) -> None:
    if "kind" in build:
        judge_flat_kind(name, build, verdict)
        return
    judge_serving(name, build, verdict)
    slope = build.get("rss_slope_mb_per_10k")
    if slope is None:
        verdict.fail(
            f"{name}: too few samples after warm-up to fit an RSS slope "
            f"({build.get('requests', 0)} requests); run longer with --duration"
        )
    elif slope > FLAT_MB_PER_10K:
        verdict.fail(
            f"{name}: RSS grew {slope:.2f} MB per 10k requests after warm-up "
            f"(flat means at most {FLAT_MB_PER_10K:g}); {_mb(build.get('retained_after_gc_mb'))} "
            "MB still held after gc.collect()"
        )
    else:
        verdict.pass_(
            f"{name}: flat, RSS {slope:+.2f} MB per 10k requests after warm-up "
            f"(limit {FLAT_MB_PER_10K:g})"
        )
    limit = build.get("pool_limit")
    connections = build.get("peak_db_connections")
    if limit is not None and connections is not None and connections > limit:
        verdict.fail(
            f"{name}: {connections} database connections at peak, more than its pools allow "
            f"({limit}): something opens connections outside the pool"
        )
    elif connections is not None:
        verdict.pass_(
            f"{name}: {connections} database connections at peak, within the pool ({limit})"
        )
    if "tasks" in build.get("growing", []):
        verdict.fail(f"{name}: asyncio tasks kept growing (peak {build.get('peak_tasks')})")
    others = [resource for resource in build.get("growing", []) if resource != "tasks"]
    if others:
        verdict.pass_(f"{name}: note, {', '.join(others)} rose during the run")


def judge_leaking(
    name: str, build: Summary, reference_slope: float | None, verdict: Verdict
) -> None:
    if "kind" in build:
        judge_leaking_kind(name, build, verdict)
        return
    slope = build.get("rss_slope_mb_per_10k")
    needed = max(LEAK_FACTOR * (reference_slope or 0.0), FLAT_MB_PER_10K)
    growing = build.get("growing", [])
    shown = []
    if slope is not None and slope >= needed:
        ratio = ""
        if reference_slope is not None and reference_slope >= RATIO_FLOOR:
            ratio = f", {slope / reference_slope:.0f}x the fixed build's"
        shown.append(
            f"RSS grew {slope:.2f} MB per 10k requests{ratio}; "
            f"{_mb(build.get('retained_after_gc_mb'))} MB still held after gc.collect()"
        )
    if growing:
        peaks = ", ".join(
            f"{resource} (peak {build.get('peak_' + resource)})" for resource in growing
        )
        shown.append(f"kept growing: {peaks}")
    if shown:
        verdict.pass_(f"{name}: leaks shown, " + "; ".join(shown))
    else:
        hidden = ""
        if build.get("worker_restarts"):
            hidden = (
                f"; {build['worker_restarts']} worker restarts bounded its memory: recycling "
                "hides a leak, the saw tooth in memory.png is what it hides"
            )
        verdict.fail(
            f"{name}: no leak shown, RSS slope {_mb(slope)} MB per 10k requests "
            f"(needs at least {needed:.2f}) and no resource count kept growing{hidden}"
        )
    if build.get("failures"):
        verdict.pass_(f"{name}: {build['failures']} of {build.get('requests')} requests failed")


def judge_compare(fixed: Summary, leaky: Summary) -> Verdict:
    verdict = Verdict()
    judge_flat("fixed", fixed, verdict)
    judge_leaking("leaky", leaky, fixed.get("rss_slope_mb_per_10k"), verdict)
    judge_recycling(verdict, {"fixed": fixed, "leaky": leaky})
    return verdict


def judge_soak(name: str, build: Summary) -> Verdict:
    verdict = Verdict()
    judge_flat(name, build, verdict)
    if build.get("failures"):
        verdict.pass_(
            f"{name}: note, {build['failures']} of {build.get('requests')} requests failed"
        )
    judge_recycling(verdict, {name: build})
    return verdict

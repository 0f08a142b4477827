"""``leakproof bench --verdicts``: how often the lab's verdict is right, measured.

Each scenario of the twin runs alone against the fixed build (``leakproof compare --quick
--scenarios ID``), N times. Every run judges two builds, so it counts twice:
- the fixed build judged anything but ``flat`` is a false alarm (``inconclusive`` is counted
  apart: the lab said it could not tell, which is not a wrong answer but not a right one);
- the twin judged ``flat`` or ``inconclusive`` is a miss;
- the twin judged a leak is named right when its kind is the scenario's, and what it names (a
  resource, or a holder or site in the scenario's own module) is the scenario's.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load.run.config import catalogue
from load.run.target import ROOT

# what each scenario must come out as: its kinds (the first it should be judged), and what must be
# named: a resource, or a place in the scenario's own module
EXPECTED: dict[str, tuple[tuple[str, ...], str]] = {
    "unclosed-session": (("resource-leak",), "connections"),
    "global-state": (("object-leak",), "app/leaky/global_state.py"),
    "di-singleton": (("object-leak",), "app/leaky/di_singleton.py"),
    "orphan-tasks": (("resource-leak",), "tasks"),
    # every row held at once: a spike, or RSS the allocator keeps after it (both are its face)
    "unstreamed-export": (("peak-memory", "allocator-retention"), "kind"),
    "stream-holds-session": (("resource-leak",), "connections"),
    "engine-per-request": (("resource-leak",), "connections"),
    "aborted-stream": (("resource-leak",), "connections"),
    "threadpool-deadlock": (("resource-leak",), "threads"),
    "allocator-retention": (("allocator-retention", "peak-memory"), "kind"),
    "exception-retention": (("object-leak",), "app/leaky/exception_retention.py"),
    "client-per-request": (("resource-leak", "object-leak"), "fds"),
    # the series are allocated where the fixed code calls labels(); the twin only feeds it raw
    # paths, and tracemalloc names where memory is allocated, not where a value came from
    "metrics-cardinality": (("object-leak",), "app/ops/metrics.py:observe"),
    "schema-per-call": (("object-leak",), "app/leaky/schema_per_call.py"),
}
CONNECTIONS = ("db_connections", "pool_checked_out", "pool pinned", "db connections beyond")


@dataclass
class Tally:
    runs: int = 0
    false_alarms: int = 0
    fixed_inconclusive: int = 0
    misses: int = 0
    named_right: int = 0
    outcomes: list[str] = field(default_factory=list)


def named(build: dict[str, Any], wanted: str) -> bool:
    """Whether the twin's report names what the scenario leaks."""
    if wanted == "connections":
        return any(r.startswith(CONNECTIONS) for r in build.get("leaked_resources") or [])
    if wanted in ("tasks", "threads", "fds"):
        return any(r.startswith(wanted) for r in build.get("leaked_resources") or [])
    if wanted == "kind":  # the kind is the name: nothing is held, RSS is
        return True
    sites = build.get("leak_sites") or []
    places = [f"{sites[0]['file']}:{sites[0]['line']}"] if sites else []  # the top site only
    for grown in build.get("growing_types") or []:
        places += grown.get("written_at") or []
        places.append((grown.get("held_by") or "").replace(".", "/"))
    if wanted.endswith(".py"):  # a module: a site or a holder in it
        module = wanted.removesuffix(".py")
        return any(place.startswith(wanted) or module in place for place in places)
    path, function = wanted.split(":")  # a function: a site inside it
    first, last = function_lines(ROOT / path, function)
    return any(
        place.startswith(f"{path}:") and first <= int(place.rpartition(":")[2]) <= last
        for place in places
        if place.rpartition(":")[2].isdigit()
    )


def function_lines(path: Path, name: str) -> tuple[int, int]:
    """The first and last line of the function ``name`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node.lineno, node.end_lineno or node.lineno
    raise LookupError(f"{path} has no function {name}")


def judge_run(scenario: str, summary: dict[str, Any], tally: Tally) -> str:
    fixed, leaky = summary["builds"]["fixed"], summary["builds"]["leaky"]
    tally.runs += 1
    kinds, wanted = EXPECTED[scenario]
    if fixed.get("kind") == "inconclusive":
        tally.fixed_inconclusive += 1
    elif fixed.get("kind") != "flat":
        tally.false_alarms += 1
    if leaky.get("kind") in ("flat", "inconclusive", None):
        tally.misses += 1
    elif leaky.get("kind") in kinds and named(leaky, wanted):
        tally.named_right += 1
    outcome = f"fixed {fixed.get('kind')}, twin {leaky.get('kind')}"
    tally.outcomes.append(outcome)
    return outcome


COMPARE_LOG = "compare.log"
# when none of the first runs could happen (no database, a bad option), no later one will: the
# command stops and says why rather than tally every run as a miss
STOP_WHEN_NONE_OF_THE_FIRST = 2


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "it printed nothing"


def run_one(scenario: str, out: Path, extra: list[str]) -> dict[str, Any] | None:
    """One compare in a process of its own, its output in ``out``/compare.log; stopped with
    SIGTERM, so that it stops what it started, if this one is interrupted."""
    command = [sys.executable, "-m", "app.dev.cli", "compare", "--quick", "--scenarios", scenario,
               "--out", str(out), *extra]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)  # never an old run's answer
    with (out / COMPARE_LOG).open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
    if code not in (0, 1, 3):  # 2: the run could not happen
        return None
    try:
        summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary


def table(tallies: dict[str, Tally]) -> list[str]:
    lines = [
        "| scenario | runs | fixed: false alarms | fixed: inconclusive | twin: misses "
        "| twin: kind and place right |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario, tally in tallies.items():
        lines.append(
            f"| {scenario} | {tally.runs} | {tally.false_alarms} | {tally.fixed_inconclusive} "
            f"| {tally.misses} | {tally.named_right} of {tally.runs} |"
        )
    return lines


def run_verdicts(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("app.leaky") is None:
        print("leakproof bench --verdicts: the leaky twin (app/leaky/) is not in this project; "
              "the accuracy is measured on its scenarios", file=sys.stderr)  # fmt: skip
        return 2
    scenarios = args.scenarios or catalogue()
    root = Path(args.out or Path("reports") / time.strftime("verdicts-%Y-%m-%dT%H-%M-%S"))
    root.mkdir(parents=True, exist_ok=True)
    tallies = {scenario: Tally() for scenario in scenarios}
    attempted = happened = 0
    first = min(STOP_WHEN_NONE_OF_THE_FIRST, args.runs * len(scenarios))
    for index in range(args.runs):
        for scenario in scenarios:
            folder = root / f"{scenario}-{index + 1}"
            summary = run_one(scenario, folder, args.lab_args)
            attempted += 1
            if summary is None:
                print(f"verdicts: {scenario} run {index + 1}: no summary; why is in "
                      f"{folder / COMPARE_LOG}", file=sys.stderr, flush=True)  # fmt: skip
                if not happened and attempted == first:
                    print(f"verdicts: none of the first {first} runs could happen; the last "
                          f"one's log ends: {last_line(folder / COMPARE_LOG)}; mend that and "
                          "run again", file=sys.stderr, flush=True)  # fmt: skip
                    return 2
                tallies[scenario].runs += 1
                tallies[scenario].misses += 1
                continue
            happened += 1
            outcome = judge_run(scenario, summary, tallies[scenario])
            print(f"verdicts: {scenario} run {index + 1}: {outcome}", file=sys.stderr, flush=True)
    lines = table(tallies)
    print("\n".join(lines))
    totals = {
        "false_alarms": sum(t.false_alarms for t in tallies.values()),
        "fixed_inconclusive": sum(t.fixed_inconclusive for t in tallies.values()),
        "misses": sum(t.misses for t in tallies.values()),
        "wrongly_named": sum(t.runs - t.misses - t.named_right for t in tallies.values()),
    }
    body = {"totals": totals, "scenarios": {name: vars(t) for name, t in tallies.items()}}
    (root / "verdicts.json").write_text(json.dumps(body, indent=2))
    print(f"report: {root}/verdicts.json; each run's report in {root}/<scenario>-<n>/")
    return 0 if not any(totals.values()) else 1

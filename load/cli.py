"""``leakproof compare`` and ``leakproof soak``: the lab's commands.

compare: two builds under the same load and settings, one after the other (side by side they
would split the 2 CPUs, and one build's exhaustion of the database could spill onto the other),
then the report and the verdict as the exit code. Without specs, the fixed build against the
leaky twin; with ``--a SPEC --b SPEC``, before against after: is b flat?
soak: the same load and sampling on one build (this project's, or ``--app``), judged alone;
with ``--url``, a service the lab did not start, judged from what it exposes (load/remote_soak.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from load.judge.fix import judge_fix
from load.judge.verdict import Summary, Verdict, judge_compare, judge_soak
from load.lab import EXIT_CANNOT_RUN, run_lab
from load.options import add_load_options, config_from, scenario_list
from load.remote_soak import add_remote_options, run_remote_soak
from load.run.revisions import RevisionError
from load.target_options import (
    add_app_options,
    add_spec_options,
    compare_openers,
    soak_openers,
)


def add_compare_command(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="two builds under the same load, report and verdict: the fixed build against the "
        "leaky twin, or --a SPEC against --b SPEC (did my fix fix it?)",
    )
    add_load_options(parser)
    parser.add_argument(
        "--scenarios",
        type=scenario_list,
        help="the twin's leaks: all (default) or a comma list of its ids (docs/leaks.md)",
    )
    add_spec_options(parser)
    add_app_options(parser)
    parser.set_defaults(run=run_compare)


def add_soak_command(commands: Any) -> None:
    parser = commands.add_parser(
        "soak", help="one build under the lab's load, judged alone: flat or not"
    )
    add_load_options(parser)
    parser.add_argument(
        "--build",
        choices=["fixed", "leaky"],
        help="which of this project's builds to soak (default fixed)",
    )
    parser.add_argument(
        "--scenarios", type=scenario_list, help="the twin's leaks when --build leaky"
    )
    add_app_options(parser)
    add_remote_options(parser)
    parser.set_defaults(run=run_soak)


def _cannot_run(error: Exception) -> int:
    print(f"leakproof: {error}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def run_compare(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        openers = compare_openers(args, config)
    except (ValueError, RevisionError) as error:
        return _cannot_run(error)
    judge = judge_before_after if args.a is not None else judge_fixed_leaky
    return run_lab("compare", openers, config, judge)


def run_soak(args: argparse.Namespace) -> int:
    if args.url is not None:  # a service the lab did not start
        return run_remote_soak(args)
    try:
        config = config_from(args)
        openers = soak_openers(args, config)
    except ValueError as error:
        return _cannot_run(error)
    return run_lab("soak", openers, config, judge_alone)


def judge_fixed_leaky(builds: dict[str, Summary]) -> Verdict:
    """compare without specs: the fixed build flat, the twin leaking."""
    return judge_compare(builds["fixed"], builds["leaky"])


def judge_before_after(builds: dict[str, Summary]) -> Verdict:
    """compare --a --b: is b flat? (the builds in the order they ran: a, then b)."""
    (a, a_build), (b, b_build) = builds.items()
    return judge_fix(a, a_build, b, b_build)


def judge_alone(builds: dict[str, Summary]) -> Verdict:
    """soak's verdict on its one build."""
    ((name, build),) = builds.items()
    return judge_soak(name, build)

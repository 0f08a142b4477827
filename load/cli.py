"""``leakproof compare`` and ``leakproof soak``: the lab's commands.

compare: the fixed build, then the leaky twin, under the same load and settings, one after the
other (side by side they would split the 2 CPUs and the twin's exhaustion of the database could
spill onto the fixed build), then the report and the verdict as the exit code.
soak: the same load and sampling on one build, judged alone: flat or not; with ``--url``, a
service the lab did not start, judged from what it exposes (load/remote_soak.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from load.lab import EXIT_CANNOT_RUN, run_lab
from load.options import add_load_options, config_from, scenario_list
from load.remote_soak import add_remote_options, run_remote_soak


def add_compare_command(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="the fixed build against the leaky twin under the same load; report and verdict",
    )
    add_load_options(parser)
    parser.add_argument(
        "--scenarios",
        type=scenario_list,
        help="the twin's leaks: all (default) or a comma list of its ids (docs/leaks.md)",
    )
    parser.set_defaults(run=run_compare)


def add_soak_command(commands: Any) -> None:
    parser = commands.add_parser(
        "soak", help="one build under the lab's load, judged alone: flat or not"
    )
    add_load_options(parser)
    parser.add_argument(
        "--build", choices=["fixed", "leaky"], help="which build to soak (default fixed)"
    )
    parser.add_argument(
        "--scenarios", type=scenario_list, help="the twin's leaks when --build leaky"
    )
    add_remote_options(parser)
    parser.set_defaults(run=run_soak)


def run_compare(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ValueError as error:
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return run_lab("compare", ["fixed", "leaky"], config)


def run_soak(args: argparse.Namespace) -> int:
    if args.url is not None:  # a service the lab did not start
        return run_remote_soak(args)
    try:
        config = config_from(args)
    except ValueError as error:
        print(f"leakproof: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return run_lab("soak", [args.build or "fixed"], config)

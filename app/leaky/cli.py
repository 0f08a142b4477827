"""``leakproof leaks``: the catalogue of the twin, one line per scenario."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from app.leaky.catalogue import SCENARIOS

COLUMNS = ("id", "endpoint", "leaks", "signal", "fix")


def run(args: argparse.Namespace) -> int:
    rows = [
        {column: value for column, value in asdict(scenario).items() if column in COLUMNS}
        for scenario in SCENARIOS.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['id']}\n  endpoint: {row['endpoint']}\n  leaks:    {row['leaks']}")
        print(f"  signal:   {row['signal']}\n  fix:      {row['fix']}")
    print(
        "\nserve the twin with: LEAKPROOF_LEAKS=<id>[,<id>...] leakproof serve --build leaky"
        "  (default: all); docs/leaks.md explains each one."
    )
    return 0


def add_command(commands: Any) -> None:
    parser = commands.add_parser("leaks", help="list the leaky twin's scenarios and their fixes")
    parser.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    parser.set_defaults(run=run)

"""The ``leakproof soak --url`` end-to-end tests' command, run as a user would run it against a
service of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.load.lab_cli import run_cli
from tests.support.servers import Server

SEEDED = 2000  # items with ids 1..SEEDED, what the locustfile reads (the seeded fixture)
RUN_TIMEOUT_S = 110


def soak_url(server: Server, out: Path, *options: str) -> tuple[int, str, dict[str, Any]]:
    code, text = run_cli(
        ["soak", "--url", server.url, "--seed-items", str(SEEDED), "--out", str(out), *options],
        RUN_TIMEOUT_S, env={"COLUMNS": "200"},  # one line per reason, for the assertions
    )  # fmt: skip
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    assert summary, text
    return code, text, summary

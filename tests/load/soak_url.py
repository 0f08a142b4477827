"""The ``leakproof soak --url`` end-to-end tests' command, run as a user would run it against a
service of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.servers import Server

SEEDED = 2000  # items with ids 1..SEEDED, what the locustfile reads (the seeded fixture)
RUN_TIMEOUT_S = 110


def soak_url(server: Server, out: Path, *options: str) -> tuple[int, str, dict[str, Any]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAKPROOF_")}
    env["COLUMNS"] = "200"  # one line per reason, for the assertions on the output
    command = [
        sys.executable, "-m", "app.dev.cli", "soak", "--url", server.url,
        "--seed-items", str(SEEDED), "--out", str(out), *options,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = output.decode(errors="replace")
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    assert summary, text
    return process.returncode, text, summary

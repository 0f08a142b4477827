"""A command run to its end in a process group of its own, the whole group killed if it
overruns: servers, load generators and test runs it started go with it, never left running."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_in_group(
    command: Sequence[str], timeout_s: float, cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:  # fmt: skip
    """Its exit code and its output (stdout, then stderr interleaved as written)."""
    process = subprocess.Popen(
        list(command), cwd=cwd, env=None if env is None else dict(env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:  # overran (or the test was interrupted): the whole group goes
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, output.decode(errors="replace")

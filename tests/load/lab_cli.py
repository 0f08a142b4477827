"""Running the lab's commands as a user would, from a test (in tests/load: a project generated
without the lab drops it with the rest).

One place for what every end-to-end lab test needs: none of the suite's ``LEAKPROOF_*``
settings leak in, the command runs in a process group the test kills if it overruns (servers
and locust included), and a lab data folder short enough for the embedded PostgreSQL's socket.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from load.cli import add_compare_command, add_soak_command
from tests.support.commands import run_in_group
from tests.support.servers import stop_postgres


def run_cli(
    argv: list[str], timeout_s: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """``python -m app.dev.cli ARGV``: its exit code and its output (stdout and stderr);
    ``env`` is added to the environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    environment.update(env or {})
    return run_in_group([sys.executable, "-m", "app.dev.cli", *argv], timeout_s, cwd, environment)


@contextmanager
def lab_data_dir(prefix: str) -> Iterator[Path]:
    """A short folder for the lab's embedded PostgreSQL (its unix socket path must stay under
    ~107 bytes), stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o755)  # as root, the embedded server runs as its own OS user
    try:
        yield folder
    finally:
        stop_postgres(folder / "lab")
        shutil.rmtree(folder, ignore_errors=True)


def parse(*argv: str) -> argparse.Namespace:
    """The lab's command line as `leakproof` parses it: compare and soak."""
    parser = argparse.ArgumentParser(prog="leakproof")
    commands = parser.add_subparsers(dest="command", required=True)
    add_compare_command(commands)
    add_soak_command(commands)
    return parser.parse_args(argv)

"""``--memray``: the servers run under memray, one capture per worker, and each becomes a
flamegraph the report links to.

memray sees what tracemalloc cannot: allocations in C and Rust (a driver's buffers, pydantic-core)
with native frames. ``--follow-fork`` gives every gunicorn worker its own capture file. It is a
lab dependency; where it is missing the lab says how to add it and starts nothing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

MISSING = (
    "--memray needs memray, which is not installed here: `.venv/bin/pip install memray` "
    "(or `uv sync`, which installs the lab's dependencies)"
)
FLAMEGRAPH_TIMEOUT_S = 300.0
# what memray writes to the server's log when the app has imported greenlet
GREENLET_BANNER = "support for Greenlet is experimental"


def available() -> bool:
    return importlib.util.find_spec("memray") is not None


def died_under_memray(build: str, *, greenlet: bool) -> str:
    """The report's line for a build whose server died under memray: how to tell whose crash."""
    why = (
        ", whose support for greenlet (SQLAlchemy's asyncio layer runs on it) is experimental"
        if greenlet
        else ""
    )
    return (
        f"the {build} server ran under memray{why}: run it again without --memray to tell a "
        "crash of memray's from the app's"
    )


def capture_file(out: Path, build: str) -> Path:
    return out / f"memray-{build}.bin"


def command_prefix(out: Path, build: str) -> list[str]:
    """Put in front of ``-m MODULE ...``: memray runs the module, and follows gunicorn's forks."""
    return [sys.executable, "-m", "memray", "run", "--follow-fork", "--force", "--quiet",
            "-o", str(capture_file(out, build))]  # fmt: skip


def flamegraphs(out: Path, build: str) -> tuple[list[Path], list[str]]:
    """An HTML flamegraph for each capture of ``build`` (the leader's, then each worker's)."""
    made, notes = [], []
    base = capture_file(out, build)
    for capture in sorted(out.glob(base.name + "*")):
        if capture.suffix == ".html":
            continue
        page = capture.with_name(capture.name.replace(".bin", "") + ".html")
        result = subprocess.run(
            [sys.executable, "-m", "memray", "flamegraph", "--force", "-o", str(page),
             str(capture)],
            capture_output=True, text=True, timeout=FLAMEGRAPH_TIMEOUT_S, check=False,
        )  # fmt: skip
        if result.returncode == 0 and page.exists():
            made.append(page)
        else:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            notes.append(f"memray flamegraph of {capture.name} failed: {last[0]}")
    return made, notes

"""What the lab checks before it starts anything: each build's app imports and is an ASGI app,
and its locustfile imports and defines users.

Each check runs in a process of its own, as the real run would (the app with its folder first on
the path and its environment; the locustfile under locust, which patches its process), and a
failure is a TargetError whose message is one line that names the fix.
"""

from __future__ import annotations

import os
import subprocess
import sys

from load.run.target import ROOT, Target

CHECK_TIMEOUT_S = 120.0


class TargetError(RuntimeError):
    """A build that cannot be served or driven as given."""


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The check's answer: its last line on stdout (what it printed may follow the app's own
    output), else the last on stderr (a crash before it could answer)."""
    for output in (result.stdout, result.stderr):
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"exit code {result.returncode}"


def check_app(target: Target) -> None:
    """The app imports from its folder with its environment, and is an ASGI app."""
    if not target.app_dir.is_dir():
        raise TargetError(f"--app-dir {target.app_dir} is not a folder; give your app's folder")
    try:
        result = subprocess.run(
            [sys.executable, "-P", "-m", "load.run.asgi_check", str(target.app_dir), target.app],
            cwd=target.app_dir, env={**os.environ, **dict(target.env)},
            capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TargetError(
            f"{target.app}: importing it took more than {CHECK_TIMEOUT_S:g} s; does the module "
            "start something at import?"
        ) from None
    if result.returncode != 0:
        raise TargetError(_last_line(result))


def check_locustfile(target: Target) -> None:
    """The locustfile exists, imports under locust, and defines at least one User class."""
    path = target.locustfile
    if not path.is_file() or path.suffix != ".py":
        raise TargetError(
            f"--locustfile {path}: no such .py file; give the path of your locustfile"
        )
    try:
        result = subprocess.run(
            [sys.executable, "-m", "load.locust.check", str(path)],
            cwd=ROOT, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TargetError(
            f"--locustfile {path}: importing it took more than {CHECK_TIMEOUT_S:g} s"
        ) from None
    if result.returncode != 0:
        raise TargetError(f"--locustfile {path}: {_last_line(result)}; fix it or give another")

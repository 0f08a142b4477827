"""A service of one's own for the lab's tests: a small FastAPI app written into a folder, its
locustfile, and a git repository whose first commit leaks and whose second is fixed."""

from __future__ import annotations

import subprocess
from pathlib import Path

# one route keeps every request body in a module-level list: the leak a team fixes
APP = """\
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()
NOTES: list[Any] = []


@app.post("/notes")
async def add_note(request: Request) -> dict[str, bool]:
    {handle}
    return {{"ok": True}}
"""
LEAK = "NOTES.append(await request.json())"
FIX = "await request.json()"
LEAK_LINE = 11  # the line of the append in APP

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class Writer(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def post(self) -> None:
        self.client.post("/notes", json={"note": "x" * 200, "tags": ["a", "b"]})
"""


def write_app(folder: Path, *, leaky: bool) -> Path:
    """``notes.py`` (``notes:app``) and ``locustfile.py`` in ``folder``; the locustfile's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.py").write_text(APP.format(handle=LEAK if leaky else FIX))
    locustfile = folder / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    return locustfile


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=lab", "-c", "user.email=lab@example.invalid", *args],
        cwd=folder, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


def leaky_then_fixed(folder: Path) -> Path:
    """A repository in ``folder``: the app leaky in its first commit, fixed in its second."""
    locustfile = write_app(folder, leaky=True)
    git(folder, "init", "--quiet")
    git(folder, "add", ".")
    git(folder, "commit", "--quiet", "-m", "notes: keep every note")
    write_app(folder, leaky=False)
    git(folder, "commit", "--quiet", "-am", "notes: keep nothing")
    return locustfile

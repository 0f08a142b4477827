"""A revision of the current git repository, checked out to be served: ``compare --a git:REF``.

Each revision gets a detached worktree in a temporary folder (``git worktree add --detach``),
served from there with the current environment (the lab's virtualenv): its code, not its lock
file. The worktree is removed on every path, Ctrl-C included, with the lab's other children.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GIT_TIMEOUT_S = 120.0
# what decides the environment a revision needs; the lab serves every revision in its own
LOCK_FILES = ("uv.lock", "pyproject.toml")


class RevisionError(RuntimeError):
    """A revision that cannot be served: not a repository, no such revision."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
        check=False,
    )  # fmt: skip


def repository(folder: Path) -> Path:
    """The top folder of the git repository ``folder`` is in."""
    try:
        found = _git(folder, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        raise RevisionError("git:REF needs git, which is not installed here") from None
    if found.returncode != 0:
        raise RevisionError(
            f"git:REF compares revisions of the current git repository, and {folder} is not in "
            "one: run it from your repository, or give MODULE:ATTR specs"
        )
    return Path(found.stdout.strip()).resolve()


def commit_of(repo: Path, ref: str) -> str:
    """The commit ``ref`` names, or an error that says how to list them."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise RevisionError(
            f"git:{ref}: no such revision in {repo}; `git log --oneline` lists the commits "
            "(HEAD~1, a tag, a branch or a hash all work)"
        )
    return found.stdout.strip()


def lock_files_differ(repo: Path, commit: str) -> list[str]:
    """The lock files (uv.lock, pyproject.toml) that differ between ``commit`` and the working
    tree, whose environment serves the revision."""
    found = _git(repo, "diff", "--name-only", commit, "--", *LOCK_FILES)
    return sorted(line for line in found.stdout.splitlines() if line.strip())


@contextmanager
def checked_out(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary folder, removed on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="leakproof-rev-"))
    try:
        added = _git(repo, "worktree", "add", "--detach", str(folder), commit)
        if added.returncode != 0:
            last = (added.stderr.strip().splitlines() or ["no output"])[-1]
            raise RevisionError(f"git worktree add {commit[:12]} failed: {last}")
        yield folder
    finally:
        _git(repo, "worktree", "remove", "--force", str(folder))
        shutil.rmtree(folder, ignore_errors=True)
        _git(repo, "worktree", "prune")

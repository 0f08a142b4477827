"""Revisions of a git repository, checked out to be served and removed on every path."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.run.revisions import (
    RevisionError,
    checked_out,
    commit_of,
    lock_files_differ,
    repository,
)
from tests.load.own_app import LEAK, git, leaky_then_fixed


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "service"
    leaky_then_fixed(folder)
    return folder


def worktrees(repo: Path) -> list[str]:
    return [
        line for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]  # fmt: skip


def test_a_revision_is_checked_out_apart_and_removed(repo: Path) -> None:
    first = commit_of(repo, "HEAD~1")
    with checked_out(repo, first) as folder:
        assert LEAK in (folder / "notes.py").read_text()  # the leaky commit, not the working tree
        assert len(worktrees(repo)) == 2
    assert not folder.exists()
    assert len(worktrees(repo)) == 1


def test_the_worktree_goes_when_the_run_is_interrupted(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt), checked_out(repo, commit_of(repo, "HEAD")) as folder:
        raise KeyboardInterrupt  # Ctrl-C in the middle of a run
    assert not folder.exists()
    assert len(worktrees(repo)) == 1


def test_a_revision_that_does_not_exist_says_how_to_list_them(repo: Path) -> None:
    with pytest.raises(RevisionError, match=r"git:v9\.9: no such revision in .*git log --oneline"):
        commit_of(repo, "v9.9")
    with pytest.raises(RevisionError, match="no such revision"):
        commit_of(repo, "--output=/tmp/x")  # never read as an option of git's


def test_outside_a_repository_the_error_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="is not in one: run it from your repository"):
        repository(tmp_path)


def test_the_repository_is_found_from_a_folder_inside_it(repo: Path) -> None:
    (repo / "docs").mkdir()
    assert repository(repo / "docs") == repo.resolve()


def test_lock_files_that_differ_from_the_working_tree_are_named(repo: Path) -> None:
    assert lock_files_differ(repo, commit_of(repo, "HEAD")) == []
    (repo / "uv.lock").write_text("version = 1\n")
    git(repo, "add", "uv.lock")
    git(repo, "commit", "--quiet", "-m", "lock")
    (repo / "uv.lock").write_text("version = 2\n")
    assert lock_files_differ(repo, commit_of(repo, "HEAD")) == ["uv.lock"]
    assert lock_files_differ(repo, commit_of(repo, "HEAD~1")) == ["uv.lock"]

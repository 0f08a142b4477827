"""Bad input to ``soak --app`` and ``compare --a --b``: one line that names the fix, exit 2,
nothing left behind (no report folder, no server, no worktree)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from load.cli import run_compare, run_soak
from load.options import config_from
from load.target_options import compare_openers
from tests.load.lab_cli import parse
from tests.load.own_app import git, leaky_then_fixed, write_app


def refused(
    run: Callable[[argparse.Namespace], int], capsys: pytest.CaptureFixture[str], *argv: str
) -> str:
    """Run the command; it must refuse with exit 2 and one line."""
    code = run(parse(*argv))
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith("leakproof: ")
    assert "\n" not in error
    return error


def nothing_started() -> None:
    servers = [
        process
        for process in psutil.Process().children(recursive=True)
        if any(part in ("uvicorn", "gunicorn", "locust") for part in process.cmdline())
    ]
    assert servers == []


@pytest.fixture
def service(tmp_path: Path) -> Path:
    folder = tmp_path / "service"
    write_app(folder, leaky=True)
    return folder


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "repo"
    leaky_then_fixed(folder)
    monkeypatch.chdir(folder)
    return folder


def test_env_must_be_key_equals_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("soak", "--app", "notes:app", "--env", "NOTES_LIMIT")
    assert exited.value.code == 2
    assert "'NOTES_LIMIT' is not KEY=VALUE" in capsys.readouterr().err


def test_an_app_spec_must_be_module_colon_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("soak", "--app", "notes.py")
    assert "'notes.py' is not MODULE:ATTR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("compare", "--a", "HEAD~1", "--b", "git:HEAD")
    assert "'HEAD~1' is neither MODULE:ATTR nor git:REF" in capsys.readouterr().err


def test_an_app_of_one_s_own_needs_its_locustfile(
    capsys: pytest.CaptureFixture[str], service: Path
) -> None:
    error = refused(run_soak, capsys, "soak", "--app", "notes:app", "--app-dir", str(service))
    assert "give --locustfile FILE" in error


def test_a_module_that_does_not_import_stops_the_run_before_it_starts(
    capsys: pytest.CaptureFixture[str], service: Path, tmp_path: Path
) -> None:
    (service / "broken.py").write_text("import notes_helpers_missing\n")
    out = tmp_path / "report"
    error = refused(
        run_soak, capsys, "soak", "--app", "broken:app", "--app-dir", str(service),
        "--locustfile", str(service / "locustfile.py"), "--out", str(out),
    )  # fmt: skip
    assert error.endswith("ModuleNotFoundError: No module named 'notes_helpers_missing'")
    assert not out.exists()
    nothing_started()


def test_a_locustfile_without_users_stops_the_run_before_it_starts(
    capsys: pytest.CaptureFixture[str], service: Path, tmp_path: Path
) -> None:
    (service / "empty_load.py").write_text("from locust import FastHttpUser\n")
    error = refused(
        run_soak, capsys, "soak", "--app", "notes:app", "--app-dir", str(service),
        "--locustfile", str(service / "empty_load.py"), "--out", str(tmp_path / "report"),
    )  # fmt: skip
    assert "it defines no User class" in error
    assert not (tmp_path / "report").exists()


def test_this_project_s_options_do_not_go_with_an_app_of_one_s_own(
    capsys: pytest.CaptureFixture[str], service: Path
) -> None:
    own = ("--app", "notes:app", "--app-dir", str(service), "--locustfile", str(service / "x.py"))
    assert "not with --app" in refused(run_soak, capsys, "soak", *own, "--build", "leaky")
    error = refused(run_soak, capsys, "soak", *own, "--server", "gunicorn", "--max-memory", "150")
    assert "leave --max-memory out" in error
    assert "go with --app" in refused(run_soak, capsys, "soak", "--env", "A=1")


def test_a_revision_that_does_not_exist_is_named(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    error = refused(
        run_compare, capsys, "compare", "--a", "git:v0.9", "--b", "git:HEAD",
        "--app", "notes:app", "--locustfile", "locustfile.py",
    )  # fmt: skip
    assert f"git:v0.9: no such revision in {repo.resolve()}" in error


def test_specs_come_in_twos_and_differ(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    assert "give both --a SPEC and --b SPEC" in refused(
        run_compare, capsys, "compare", "--a", "git:HEAD"
    )
    assert "compare two different builds" in refused(
        run_compare, capsys, "compare", "--a", "git:HEAD", "--b", "git:HEAD"
    )
    assert "go with --a SPEC --b SPEC" in refused(
        run_compare, capsys, "compare", "--locustfile", "locustfile.py"
    )


def test_revisions_of_another_repository_need_the_app_to_serve(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    error = refused(run_compare, capsys, "compare", "--a", "git:HEAD~1", "--b", "git:HEAD")
    assert "is not this project: give --app MODULE:ATTR" in error


def test_revisions_checked_out_for_a_run_that_cannot_start_are_removed(
    capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
) -> None:
    error = refused(
        run_compare, capsys, "compare", "--a", "git:HEAD~1", "--b", "git:HEAD",
        "--app", "notes:nothing", "--locustfile", "locustfile.py",
        "--out", str(tmp_path / "report"),
    )  # fmt: skip
    assert "has no attribute 'nothing'" in error
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    assert [line for line in listed if line.startswith("worktree ")] == [f"worktree {repo}"]
    assert not (tmp_path / "report").exists()
    nothing_started()


def test_a_revision_whose_lock_file_differs_is_served_with_a_warning(
    capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
) -> None:
    (repo / "uv.lock").write_text("version = 1\n")
    git(repo, "add", "uv.lock")
    git(repo, "commit", "--quiet", "-m", "lock")
    (repo / "uv.lock").write_text("version = 2\n")  # the environment in use: another lock
    code = run_compare(
        parse(
            "compare", "--a", "git:HEAD~1", "--b", "git:HEAD", "--app", "notes:nothing",
            "--locustfile", "locustfile.py", "--out", str(tmp_path / "report"),
        )
    )  # fmt: skip
    *warnings, error = capsys.readouterr().err.strip().splitlines()
    assert warnings == [
        f"leakproof: warning: uv.lock differs between {spec} and the working tree; "
        "the revision runs in the current environment all the same"
        for spec in ("git:HEAD~1", "git:HEAD")  # HEAD~1 has none: that differs too
    ]
    assert code == 2  # and then the app's own problem
    assert "has no attribute 'nothing'" in error


def test_one_app_in_two_folders_is_named_by_its_folders(tmp_path: Path) -> None:
    before, after = tmp_path / "v1", tmp_path / "v2"
    write_app(before, leaky=True)
    write_app(after, leaky=False)
    args = parse(
        "compare", "--a", "notes:app", "--b", "notes:app", "--a-dir", str(before),
        "--b-dir", str(after), "--locustfile", str(after / "locustfile.py"),
    )  # fmt: skip
    with ExitStack() as stack:
        a, b = (open_build(stack) for open_build in compare_openers(args, config_from(args)))
    assert (a.name, a.app_dir, a.slug) == (f"notes:app ({before})", before, "a")
    assert (b.name, b.app_dir, b.slug) == (f"notes:app ({after})", after, "b")
    assert a.locustfile == b.locustfile == after / "locustfile.py"  # the same load for both

"""End to end: the lab on a service of one's own, written outside this project.

Real runs of ``leakproof soak --app`` and ``leakproof compare --a git:... --b git:...`` (a server
behind the probe, locust with the app's own locustfile), about two minutes in all: a FastAPI app
whose one route keeps every request body in a list is an object leak, named at the line of the
append (relative to the app's folder); the same app without the append is flat; a repository
whose second commit removes the append passes "did my fix fix it?"; and under gunicorn with
``--memray`` every worker has its capture and its flamegraph in the report (half a minute more).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.load.lab_cli import run_cli
from tests.load.own_app import LEAK_LINE, git, leaky_then_fixed, write_app

RUN_TIMEOUT_S = 300
# short: the leak's heap slope is many times the flat limit, and the fixed app's far below it,
# well within this (docs/lab.md, "Soak your own service", has the figures)
DURATION = ("--duration", "12")


def leakproof(cwd: Path, out: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    code, output = run_cli([*argv, *DURATION, "--out", str(out)], RUN_TIMEOUT_S, cwd=cwd)
    summary_file = out / "summary.json"
    assert summary_file.exists(), output
    summary: dict[str, Any] = json.loads(summary_file.read_text())
    return code, summary


def soak(service: Path, cwd: Path, out: Path) -> tuple[int, dict[str, Any]]:
    return leakproof(
        cwd, out, "soak", "--app", "notes:app", "--app-dir", str(service),
        "--locustfile", str(service / "locustfile.py"),
    )  # fmt: skip


def test_a_route_that_keeps_every_body_is_an_object_leak_named_at_its_line(
    tmp_path: Path,
) -> None:
    service = tmp_path / "service"
    write_app(service, leaky=True)
    code, summary = soak(service, tmp_path, tmp_path / "report")  # run from elsewhere
    build = summary["builds"]["notes:app"]
    assert code == 1, summary["verdict"]
    assert build["kind"] == "object-leak", build["kind_reasons"]
    assert build["top_site"] == f"notes.py:{LEAK_LINE}"  # relative to the app's folder
    assert build["served"]["app_dir"] == str(service.resolve())
    assert build["peak_tasks"] is not None  # counted by the probe: the app has no /metrics
    assert summary["settings"]["this_project"] is False
    report = (tmp_path / "report" / "report.md").read_text()
    assert f"`notes.py:{LEAK_LINE}`" in report


def test_the_same_route_without_the_append_is_flat(tmp_path: Path) -> None:
    service = tmp_path / "service"
    write_app(service, leaky=False)
    code, summary = soak(service, service, tmp_path / "report")
    build = summary["builds"]["notes:app"]
    assert build["kind"] == "flat", build["kind_reasons"]
    assert code == 0, summary["verdict"]
    assert build["leak_sites"] == []


def test_memray_captures_every_gunicorn_worker_and_the_report_links_each_flamegraph(
    tmp_path: Path,
) -> None:
    """The service here has no greenlet: memray's support for it is experimental, and short runs
    of this project's app under memray have died with no Python traceback (docs/lab.md)."""
    service, out = tmp_path / "service", tmp_path / "report"
    write_app(service, leaky=False)
    code, summary = leakproof(
        tmp_path, out, "soak", "--app", "notes:app", "--app-dir", str(service),
        "--locustfile", str(service / "locustfile.py"), "--server", "gunicorn", "--workers", "2",
        "--max-duration", "12", "--memray",
    )  # fmt: skip
    build = summary["builds"]["notes:app"]
    assert not build["server_died"], build["notes"]
    assert build["worker_restarts"] == 0
    pages = build["memray_flamegraphs"]
    # the arbiter's capture, then one per worker named by its pid; the probe saw the arbiter too
    assert "memray-notes-app.html" in pages
    workers = {page.split(".")[1] for page in pages if page != "memray-notes-app.html"}
    probed = {path.stem.removeprefix("heap-") for path in (out / "probe-notes-app").glob("heap-*")}
    assert len(workers) == 2, pages
    assert workers < probed, (pages, probed)
    html = (out / "report.html").read_text()
    assert all((out / page).stat().st_size > 0 and page in html for page in pages)
    assert code in (0, 3)  # flat, or too short to call it flat; never a failure


def test_did_my_fix_fix_it_compares_two_revisions(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    leaky_then_fixed(repo)
    code, summary = leakproof(
        repo, tmp_path / "report", "compare", "--a", "git:HEAD~1", "--b", "git:HEAD",
        "--app", "notes:app", "--locustfile", "locustfile.py",
    )  # fmt: skip
    assert list(summary["builds"]) == ["git:HEAD~1", "git:HEAD"]
    assert summary["builds"]["git:HEAD~1"]["kind"] == "object-leak"
    assert summary["builds"]["git:HEAD~1"]["top_site"] == f"notes.py:{LEAK_LINE}"
    assert summary["builds"]["git:HEAD"]["served"]["revision"] == git(repo, "rev-parse", "HEAD")
    assert summary["verdict"]["headline"].startswith("b is flat: b (git:HEAD): flat")
    assert code == 0, summary["verdict"]
    worktrees = git(repo, "worktree", "list", "--porcelain").splitlines()
    assert [line for line in worktrees if line.startswith("worktree ")] == [f"worktree {repo}"]

"""The copier template: a generated project is complete, clean and green, and `copier update`
brings it later changes of the template.

Generation renders this working tree (copier includes uncommitted changes of a local template).
The generated project's checks run with this repository's .venv: its dependencies are a subset
of ours, and a small .dist-info on PYTHONPATH declares its own entry points (its CLI looks its
subcommands up under its own name).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from copier_tasks import rename, rename_python
from template.edits import Answers, TemplateError, drop_array_item, sub_once
from template.trim import trim_pyproject
from tests.support.commands import run_in_group
from tests.support.servers import stop_postgres

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEST_DATABASE = os.environ.get("LEAKPROOF_TEST_DATABASE", "leakproof_test") + "_template_gen"
# the most exclusion logic at once: the lab, Redis and the speed-ups out, the twin in, a long name
NON_DEFAULT = {
    "project_name": "inventory-reconciliation",
    "database_name": "stock",
    "leaky_twin": "true",
    "load_lab": "false",
    "redis": "false",
    "speedups": "false",
}


def environment(**extra: str) -> dict[str, str]:
    """No settings of ours leak into the generated project; the pinned uv is found if we have it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_")}
    uv = REPO / ".tools" / "bin" / "uv"
    uv_dir = str(uv.parent) if uv.exists() else os.path.dirname(shutil.which("uv") or "")
    env["PATH"] = os.pathsep.join(p for p in (uv_dir, str(BIN), env.get("PATH", "")) if p)
    return {**env, **extra}


# a guard against a hang, not a budget: some commands run a generated project's whole suite,
# which takes minutes, more on a busy machine
COMMAND_TIMEOUT_S = 600


def run(command: list[str], cwd: Path, **extra: str) -> str:
    code, output = run_in_group(command, COMMAND_TIMEOUT_S, cwd, environment(**extra))
    assert code == 0, f"{command} failed (exit {code}):\n{output[-6000:]}"
    return output


def generate(source: Path, destination: Path, *extra: str, **answers: str) -> Path:
    data = [arg for name, value in answers.items() for arg in ("-d", f"{name}={value}")]
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "-q", *extra]
    run([*command, *data, str(source), str(destination)], cwd=destination.parent)
    return destination


def project_files(project: Path) -> dict[str, str]:
    texts = {}
    for path in project.rglob("*"):
        relative = path.relative_to(project)
        hidden = any(part.startswith(".") for part in relative.parts[:-1])
        if (
            path.is_file()
            and not hidden
            and relative.name not in {"uv.lock", ".copier-answers.yml"}
        ):
            texts[relative.as_posix()] = path.read_text(errors="replace")
    return texts


def mentions(texts: dict[str, str], pattern: str) -> list[str]:
    return [
        f"{name}: {m.group(0)}" for name, text in texts.items() for m in re.finditer(pattern, text)
    ]


def declare_distribution(project: Path, site: Path) -> None:
    """What installing the project would register: its name and its entry points."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    info = site / f"{meta['name'].replace('-', '_')}-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: 0.0\n")
    groups = meta.get("entry-points", {}) | {"console_scripts": meta["scripts"]}
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
            for group, entries in groups.items()
        )
    )


def check_lint_types_and_lock(project: Path) -> None:
    run([str(BIN / "ruff"), "check", "."], cwd=project)
    run([str(BIN / "ruff"), "format", "--check", "."], cwd=project)
    run([str(BIN / "mypy")], cwd=project)
    run([str(BIN / "lint-imports")], cwd=project, PYTHONPATH=str(project))
    uv = shutil.which("uv", path=environment()["PATH"]) or str(project / ".tools" / "bin" / "uv")
    run([uv, "lock", "--locked", "--quiet"], cwd=project, UV_PYTHON_DOWNLOADS="never")


def test_a_project_without_lab_and_redis_passes_its_own_lint_and_tests(tmp_path: Path) -> None:
    project = generate(REPO, tmp_path / "inventory", "--vcs-ref=HEAD", **NON_DEFAULT)
    assert (project / "app" / "leaky").is_dir()
    assert (project / ".ci" / "run").is_file()
    assert (project / ".copier-answers.yml").is_file()
    for dropped in (
        "load", "tests/load", "app/redis_cache.py", "tests/support/redis_server.py",
        "app/speedups", "tests/speedups",
    ):  # fmt: skip
        assert not (project / dropped).exists(), dropped
    texts = project_files(project)
    assert not mentions(texts, r"(?i)leakproof|redis|cache_url")
    assert not mentions({n: t for n, t in texts.items() if n.endswith(".py")}, r"speedups")
    assert not mentions(texts, r"(from|import) load\b|\"load[.:/]|make (compare|soak|bench)")
    assert 'EMBEDDED_DATABASE = "stock"' in texts["app/dev/database.py"]
    assert texts["README.md"].split("```sh\n", 1)[1].startswith("make test")
    check_lint_types_and_lock(project)
    declare_distribution(project, tmp_path / "site")
    # the embedded server's lock and socket folder: private to this run, and a short path (a
    # unix socket path has at most ~107 bytes)
    with tempfile.TemporaryDirectory(prefix="tpl-run-") as runtime:
        run(
            # a basetemp of its own: pytest prunes old folders in the shared one, even running ones
            [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pt'}"],
            cwd=project,
            PYTHONPATH=str(tmp_path / "site"),
            INVENTORY_RECONCILIATION_TEST_DATABASE=TEST_DATABASE,
            XDG_RUNTIME_DIR=runtime,
        )


def test_the_default_project_has_no_leaky_code_and_leads_with_the_soak(tmp_path: Path) -> None:
    project = generate(REPO, tmp_path / "my-service", "--vcs-ref=HEAD")
    for dropped in ("app/leaky", "tests/leaks", "docs/leaks.md", "copier.yml", "template"):
        assert not (project / dropped).exists(), dropped
    texts = project_files(project)
    assert not mentions(texts, r"(from|import) app\.leaky")
    # the lab keeps the twin's name in its table of builds, and says so when it is missing
    outside_lab = {name: text for name, text in texts.items() if not name.startswith("load/")}
    assert not mentions(outside_lab, r"\"app\.leaky|app/leaky|serve-leaky")
    assert not mentions(texts, r"make compare")
    # compare stays with the lab: two revisions of the service need no twin
    assert re.search(r'^compare = "load\.cli:', texts["pyproject.toml"], re.MULTILINE)
    assert "(../README.md#your-routes-under-the-lab)" in texts["docs/soak.md"]
    assert texts["README.md"].split("```sh\n", 1)[1].startswith("make soak")
    assert re.search(r"^soak: setup", texts["Makefile"], re.MULTILINE)
    check_lint_types_and_lock(project)


def test_copier_update_brings_template_changes_and_keeps_the_teams_own(tmp_path: Path) -> None:
    template = tmp_path / "template"
    run(["git", "clone", "-q", str(REPO), str(template)], cwd=tmp_path)
    project = generate(template, tmp_path / "svc", project_name="svc")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    run([*git, "init", "-q"], cwd=project)
    with (project / "app" / "routes" / "health.py").open("a") as ours:
        ours.write("# the team's own line\n")
    run([*git, "add", "-A"], cwd=project)
    run([*git, "commit", "-q", "-m", "start"], cwd=project)
    with (template / "app" / "settings.py").open("a") as fix:
        fix.write("# a later fix from the template\n")
    run([*git, "commit", "-q", "-am", "a fix"], cwd=template)

    run([sys.executable, "-m", "copier", "update", "--trust", "--defaults", "-q"], cwd=project)

    assert (
        (project / "app" / "routes" / "health.py").read_text().endswith("# the team's own line\n")
    )
    assert (
        (project / "app" / "settings.py").read_text().endswith("# a later fix from the template\n")
    )
    assert not list(project.rglob("*.rej"))
    # parsed, not matched as text: the YAML writer quotes a short hash made only of digits
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    head = run(["git", "rev-parse", "--short", "HEAD"], cwd=template).strip()
    assert answers["_commit"] == head


def test_the_rename_covers_each_spelling_of_the_name() -> None:
    answers = Answers("order-service", "order_service", "d", "orders", False, True, True)
    renamed = rename('LEAKPROOF_DATABASE_URL leakproof_test "leakproof" leakproof-fixed', answers)
    assert (
        renamed
        == 'ORDER_SERVICE_DATABASE_URL order_service_test "order-service" order-service-fixed'
    )


def test_a_python_name_takes_the_underscore_spelling() -> None:
    answers = Answers("order-service", "order_service", "d", "orders", False, True, True)
    source = 'from app.dev.cli import main as leakproof\nleakproof(["leakproof"])  # leakproof\n'
    assert rename_python(source, answers) == (
        "from app.dev.cli import main as order_service\n"
        'order_service(["order-service"])  # order-service\n'
    )


def test_an_edit_whose_target_moved_stops_generation_with_its_name() -> None:
    with pytest.raises(TemplateError, match="Makefile target compare"):
        sub_once("test: setup\n", r"^compare:.*\n", "", where="Makefile target compare")
    assert drop_array_item('a = ["app", "load"]\nb = [\n    "load",\n]\n', "load") == (
        'a = ["app"]\nb = [\n]\n'
    )


def test_a_project_without_the_twin_and_the_lab_keeps_a_contract_on_its_tests() -> None:
    """Declining both used to stop generation: the twin's and the lab's were the contract's only
    forbidden modules, and dropping the last one left ``["load"]`` behind."""
    assert drop_array_item('forbidden_modules = ["load"]\n', "load") == "forbidden_modules = []\n"
    answers = Answers("order-service", "order_service", "d", "orders", False, False, True)
    trimmed = tomllib.loads(trim_pyproject((REPO / "pyproject.toml").read_text(), answers))
    linter = trimmed["tool"]["importlinter"]
    assert linter["root_packages"] == ["app", "tests"]
    first = linter["contracts"][0]
    assert (first["name"], first["forbidden_modules"]) == (
        "The service never imports its tests",
        ["tests"],
    )


# The generated project's own lab on its own app: a route that keeps every note it is sent
NOTES_ROUTE = """\
\"\"\"Notes: every note posted is kept in a list, a leak for the lab to find.\"\"\"

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()
NOTES: list[Any] = []


@router.post("/notes")
async def add_note(request: Request) -> dict[str, bool]:
    NOTES.append(await request.json())
    return {"ok": True}
"""
NOTES_LEAK_LINE = 13
NOTES_FIX = ("    NOTES.append(await request.json())\n", "    await request.json()\n")
# short and light: few users (8: the five one-each users, and three by weight, one of them the
# README's note taker), and a table no bigger than the lab's item cache, which then fills in
# warm-up rather than during the measured load. The leak's heap slope is many times the flat
# limit within 20 s; the fixed build's heap swings by a few thousand blocks with requests in
# flight, which a flat verdict needs more requests to average out: compare runs longer
LAB_RUN = ("--users", "8", "--seed-items", "200")
SOAK_S, COMPARE_S = ("--duration", "20"), ("--duration", "40")
LAB_TIMEOUT_S = 300


def add_notes_route(project: Path) -> None:
    """What a team adds: the route module, its registration, and the README's locust user."""
    (project / "app" / "routes" / "notes.py").write_text(NOTES_ROUTE)
    main = project / "app" / "main.py"
    text = sub_once(
        main.read_text(),
        r"^(from app\.routes import .*)\bnotify$",
        r"\1notes, notify",
        where="app/main.py routes import",
    )
    text = sub_once(
        text,
        r"^(    app\.include_router\(health\.router\))$",
        r"    app.include_router(notes.router)\n\1",
        where="app/main.py health router",
    )
    main.write_text(text)
    readme = (project / "README.md").read_text()
    user = readme.split("## Your routes under the lab", 1)[1].split("```python\n", 1)[1]
    with (project / "load" / "locust" / "locustfile.py").open("a") as locustfile:
        locustfile.write("\n\n" + user.split("```", 1)[0])


def the_readme_commands(project: Path) -> list[list[str]]:
    """The lab's commands the README's section tells a team to run, as argv."""
    section = (project / "README.md").read_text().split("## Your routes under the lab", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("#")[0].split() for block in blocks for line in block.splitlines()]


@pytest.fixture
def lab_data_dir() -> Iterator[Path]:
    # a short folder: the embedded server's unix socket path must stay under ~107 bytes
    folder = Path(tempfile.mkdtemp(prefix="tpl-lab-"))
    os.chmod(folder, 0o755)  # as root, the embedded server runs as its own OS user
    yield folder
    stop_postgres(folder / "lab")
    shutil.rmtree(folder, ignore_errors=True)


def project_lab(
    project: Path, site: Path, data_dir: Path, out: Path, *argv: str
) -> tuple[int, dict[str, Any], str]:
    """The generated project's own command (``python -m app.dev.cli``), its code first on the
    path: the lab's server launcher (``python -P -m load.probe``) must load the project's probe,
    not this repository's, which our .venv would otherwise find."""
    env = environment(
        PYTHONPATH=os.pathsep.join((str(project), str(site))),
        MY_SERVICE_DATA_DIR=str(data_dir),
    )
    command = [sys.executable, "-m", "app.dev.cli", *argv, "--out", str(out)]
    code, output = run_in_group(command, LAB_TIMEOUT_S, project, env)
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return code, summary, output


def test_a_generated_projects_lab_names_its_own_leaky_route_and_passes_the_fix(
    tmp_path: Path, lab_data_dir: Path
) -> None:
    """The README's way, end to end, in a generated project (lab kept, twin dropped): a route
    that keeps every note, with the README's locust user, is an object leak named at the
    append's line by the project's own ``soak``; the fix, committed after it, passes the
    project's ``compare --a git:HEAD~1 --b git:HEAD`` (b is flat). About three minutes."""
    project = generate(REPO, tmp_path / "my-service", "--vcs-ref=HEAD")
    site = tmp_path / "site"
    declare_distribution(project, site)
    add_notes_route(project)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    run([*git, "init", "-q"], cwd=project)
    run([*git, "add", "-A"], cwd=project)
    run([*git, "commit", "-q", "-m", "notes, kept"], cwd=project)
    soak, compare = the_readme_commands(project)
    assert soak[:2] == ["make", "soak"]  # `my-service soak`, once make has set up .venv
    assert compare[:6] == [
        ".venv/bin/my-service",
        "compare",
        "--a",
        "git:HEAD~1",
        "--b",
        "git:HEAD",
    ]
    line = f"app/routes/notes.py:{NOTES_LEAK_LINE}"

    code, summary, output = project_lab(
        project, site, lab_data_dir, tmp_path / "soak", "soak", *LAB_RUN, *SOAK_S
    )
    assert summary, output
    build = summary["builds"]["fixed"]
    assert build["kind"] == "object-leak", build["kind_reasons"]
    assert build["top_site"] == line, build["leak_sites"]
    assert code == 1, summary["verdict"]

    routes = project / "app" / "routes" / "notes.py"
    routes.write_text(routes.read_text().replace(*NOTES_FIX))
    run([*git, "commit", "-q", "-am", "notes: read and dropped"], cwd=project)
    code, summary, output = project_lab(
        project, site, lab_data_dir, tmp_path / "compare",
        *compare[1:], *LAB_RUN, *COMPARE_S,  # the README's command; the last --duration counts
    )  # fmt: skip
    assert summary, output
    assert list(summary["builds"]) == ["git:HEAD~1", "git:HEAD"]
    assert summary["builds"]["git:HEAD~1"]["kind"] == "object-leak"
    assert summary["builds"]["git:HEAD~1"]["top_site"] == line
    assert summary["builds"]["git:HEAD"]["kind"] == "flat", summary["verdict"]
    assert summary["verdict"]["headline"].startswith("b is flat: b (git:HEAD): flat")
    assert code == 0, summary["verdict"]
    worktrees = run(["git", "worktree", "list", "--porcelain"], cwd=project).splitlines()
    assert [row for row in worktrees if row.startswith("worktree ")] == [f"worktree {project}"]

    # without the twin, compare with no spec names the way to compare revisions
    code, _, output = project_lab(project, site, lab_data_dir, tmp_path / "twin", "compare")
    assert code == 2, output
    assert "compare --a git:HEAD~1 --b git:HEAD" in output

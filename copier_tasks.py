"""The template's post-generation task (copier.yml ``_tasks``): rename, trim, re-lock.

copier copies this repository as it is, leaving out the folders of the parts the answers drop
(``_exclude``). This script then runs in the new project's folder: it renames leakproof to the
project's name, removes what the shared files hold of the dropped parts, and re-locks uv.lock so
that it matches the new pyproject.toml. Usage (copier runs it)::

    python copier_tasks.py <template folder> '<answers as JSON>'
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path

from template.edits import Answers, TemplateError
from template.trim import (
    drop_dropped_paths,
    point_soak_doc_at_readme,
    set_database,
    trim_cli,
    trim_dockerfile,
    trim_makefile,
    trim_pyproject,
)
from template.without_redis import remove_redis
from template.without_speedups import remove_speedups

TEMPLATE_NAME = "leakproof"
# Never renamed: the answers (they name the template's source) and the lock (uv rewrites it).
NOT_RENAMED = {".copier-answers.yml", "uv.lock"}

Change = Callable[[str, Answers], str]


def rendered_files(template: Path, project: Path) -> list[Path]:
    """The project's files that came from the template. The folder may hold others (during
    ``copier update``: .venv, .git, the team's own files); those are left alone."""
    files = []
    for source in template.rglob("*"):
        relative = source.relative_to(template)
        if ".git" in relative.parts or not source.is_file():
            continue
        target = project / str(relative).removesuffix(".jinja")
        if target.is_file() and target.name not in NOT_RENAMED:
            files.append(target)
    return files


def rename(text: str, answers: Answers) -> str:
    """leakproof -> the project's name, in the three spellings the template uses."""
    text = text.replace(TEMPLATE_NAME.upper(), answers.python_name.upper())  # env prefixes
    text = text.replace(f"{TEMPLATE_NAME}_", f"{answers.python_name}_")  # metrics, databases
    return text.replace(TEMPLATE_NAME, answers.project_name)  # distribution, command, labels


def rename_python(text: str, answers: Answers) -> str:
    """In Python, a name (``main as leakproof``) takes the underscore spelling; strings and
    comments then get the usual ones."""
    lines = text.splitlines(keepends=True)
    names = [
        token
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.NAME and TEMPLATE_NAME in token.string.lower()
    ]
    for token in reversed(names):
        (row, start), (_, end) = token.start, token.end
        new = token.string.replace(TEMPLATE_NAME.upper(), answers.python_name.upper())
        new = new.replace(TEMPLATE_NAME, answers.python_name)
        lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    return rename("".join(lines), answers)


def rename_project(template: Path, project: Path, answers: Answers) -> None:
    for path in rendered_files(template, project):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # not text
        renamed = rename_python(text, answers) if path.suffix == ".py" else rename(text, answers)
        if renamed != text:
            path.write_text(renamed)


def edit(path: Path, change: Change, answers: Answers) -> None:
    path.write_text(change(path.read_text(), answers))


def uv_command(project: Path) -> str:
    """The uv the Makefile pins: one already on PATH at that version, else the Makefile's own
    bootstrap (pip installs it into .tools/, as `make setup` would)."""
    pinned = re.search(r"^UV_VERSION := (\S+)$", (project / "Makefile").read_text(), re.MULTILINE)
    if pinned is None:
        raise TemplateError("Makefile: UV_VERSION not found; update copier_tasks.py")
    on_path = shutil.which("uv")
    if on_path:
        version = subprocess.run([on_path, "--version"], capture_output=True, text=True).stdout
        if version.split()[1:2] == [pinned.group(1)]:
            return on_path
    subprocess.run(["make", "--no-print-directory", ".tools/bin/uv"], cwd=project, check=True)
    return str(project / ".tools" / "bin" / "uv")


def relock_and_format(project: Path) -> None:
    """uv.lock for the new pyproject.toml (the template's versions stay, the packages only a
    dropped part needed go), then ruff format with the locked ruff: a longer name can push a
    line past the limit. Needs PyPI only for what uv has not cached."""
    uv = uv_command(project)
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    subprocess.run([uv, "lock", "--quiet"], cwd=project, env=environment, check=True)
    ruff = re.search(r'^name = "ruff"\nversion = "(.+)"$', (project / "uv.lock").read_text(), re.M)
    if ruff is None:
        raise TemplateError("uv.lock: ruff is not locked; copier_tasks.py formats with it")
    format_command = [
        "tool",
        "run",
        "--from",
        f"ruff=={ruff.group(1)}",
        "ruff",
        "format",
        "-q",
        ".",
    ]
    subprocess.run([uv, *format_command], cwd=project, env=environment, check=True)
    allow_renamed_prose(project)


def allow_renamed_prose(project: Path) -> None:
    """ruff format wraps code, not docstrings and comments: where a longer name pushed prose past
    the line length, ruff's E501 limit is raised to the longest such line (code stays at 100)."""
    pyproject = project / "pyproject.toml"
    limit = re.search(r"^line-length = (\d+)$", pyproject.read_text(), re.MULTILINE)
    if limit is None:
        raise TemplateError("pyproject.toml: [tool.ruff] line-length not found")
    longest = max(
        len(line)
        for path in project.rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(project).parts)
        for line in path.read_text().splitlines()
    )
    if longest <= int(limit.group(1)):
        return
    if "[tool.ruff.lint.pycodestyle]" in pyproject.read_text():
        raise TemplateError("pyproject.toml already sets [tool.ruff.lint.pycodestyle]")
    with pyproject.open("a") as toml:
        toml.write(
            "\n# The service's name is longer than the template's: renamed prose may reach this.\n"
            f"[tool.ruff.lint.pycodestyle]\nmax-line-length = {longest}\n"
        )


def main(argv: list[str]) -> int:
    template, answers = Path(argv[1]), Answers.from_json(argv[2])
    project = Path.cwd()
    try:
        rename_project(template, project, answers)
        edit(project / "pyproject.toml", trim_pyproject, answers)
        edit(project / "Makefile", trim_makefile, answers)
        edit(project / "app" / "dev" / "cli.py", trim_cli, answers)
        edit(project / "app" / "dev" / "database.py", set_database, answers)
        if (project / "docs" / "soak.md").exists():
            edit(project / "docs" / "soak.md", point_soak_doc_at_readme, answers)
        if (project / "Dockerfile").exists():
            edit(project / "Dockerfile", trim_dockerfile, answers)
        for path in sorted(project.glob("tests/**/*.py")):
            edit(path, drop_dropped_paths, answers)
        if not answers.redis:
            remove_redis(project)
        if not answers.speedups:
            remove_speedups(project)
        relock_and_format(project)
    except (TemplateError, subprocess.CalledProcessError) as error:
        print(f"template: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Take the speed-ups out of a generated project (answer ``speedups: false``).

copier.yml leaves out app/speedups and tests/speedups; these edits remove what the rest holds of
them: the app factory's one switch, its setting, its import contract, the second run of the item
route tests, and the prose that describes them (with the SQLAlchemy internals only they used).
What is left is the plain service.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from template import pysource
from template.edits import TemplateError, replace_once, sub_once

SWITCH_IMPORT = "from app import speedups\n"
SWITCH_CALL = "    if settings.speedups:\n        speedups.install(app)\n"
CONTRACT = r'\n\[\[tool\.importlinter\.contracts\]\]\nname = "The speed-ups .*"\n(?:.+\n)*'
SQLALCHEMY_PIN_NOTE = r"(\"sqlalchemy\[asyncio\][^\"]*\",)  # app/speedups/_sqlalchemy\.py: .*$"


def _is_setting(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "speedups"
    )


def _is_second_run(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef) and node.name == "make_settings"


def _edit_python(path: Path, edit: pysource.Statement, where: str) -> None:
    source = pysource.delete_statements(path.read_text(), edit, where=where)
    path.write_text(pysource.prune_unused_imports(source))


def remove_speedups(project: Path) -> None:
    main = project / "app" / "main.py"
    text = replace_once(main.read_text(), SWITCH_IMPORT, "", where="app/main.py import")
    main.write_text(replace_once(text, SWITCH_CALL, "", where="app/main.py switch"))
    _edit_python(project / "app" / "settings.py", _is_setting, "app/settings.py speedups")
    items = project / "tests" / "routes" / "test_items.py"
    _edit_python(items, _is_second_run, "tests/routes/test_items.py make_settings")
    if re.search(r"^import (functools|pytest)$", items.read_text(), re.MULTILINE):
        source = items.read_text()
        for module in ("functools", "pytest"):
            if f"{module}." not in source:
                source = source.replace(f"import {module}\n", "")
        items.write_text(source)
    pyproject = project / "pyproject.toml"
    text = sub_once(pyproject.read_text(), CONTRACT, "", where="pyproject.toml speed-ups contract")
    pyproject.write_text(sub_once(text, SQLALCHEMY_PIN_NOTE, r"\1", where="pyproject.toml pin"))
    private = project / "docs" / "private-names.md"
    text = sub_once(private.read_text(), r"^\| SQLAlchemy \|.*\n", "", where="private-names row")
    section = r"^## SQLAlchemy \(the speed-ups only\)\n(?:.*\n)*?(?=^## )"
    private.write_text(sub_once(text, section, "", where="docs/private-names.md SQLAlchemy"))
    bench = project / "docs" / "bench.md"
    if bench.exists():
        section = r"^## The speed-ups, and what each pays\n(?:.*\n)*?(?=^## )"
        bench.write_text(sub_once(bench.read_text(), section, "", where="docs/bench.md"))
    for path in project.rglob("*.py"):
        if "speedups" in path.read_text() and ".venv" not in path.parts:
            raise TemplateError(
                f"{path.relative_to(project)} still names the speed-ups: teach "
                "template/without_speedups.py its removal"
            )

"""SQL is never built by string formatting: ruff's S608 is on for every part of the project,
and this proves the project's own configuration catches a violation wherever it is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORMATTED_SQL = (
    "def find(name: str) -> str:\n    return f\"SELECT id FROM items WHERE name = '{name}'\"\n"
)
BOUND_SQL = (
    'from sqlalchemy import text\n\nFIND = text("SELECT id FROM items WHERE name = :name")\n'
)


def ruff(source: str, as_path: str) -> subprocess.CompletedProcess[str]:
    """Lint ``source`` as if it were the project's file ``as_path``, with the project's config."""
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--stdin-filename", as_path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    "as_path", ["app/routes/probe.py", "app/leaky/probe.py", "load/probe.py", "tests/probe.py"]
)
def test_sql_built_by_formatting_fails_the_lint_everywhere(as_path: str) -> None:
    result = ruff(FORMATTED_SQL, as_path)
    assert result.returncode == 1
    assert "S608" in result.stdout


def test_bound_parameters_pass_the_lint() -> None:
    result = ruff(BOUND_SQL, "app/routes/probe.py")
    assert result.returncode == 0, result.stdout

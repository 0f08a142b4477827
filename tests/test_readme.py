"""The README is the first thing a user runs: its settings and commands must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_with_its_description() -> None:
    for name, field in Settings.model_fields.items():
        row = next(
            (
                line
                for line in README.splitlines()
                if line.startswith(f"| `{ENV_PREFIX}{name.upper()}`")
            ),
            None,
        )
        assert row is not None, (
            f"{ENV_PREFIX}{name.upper()} is missing from the README's settings table"
        )
        assert (field.description or "") in row, f"{name}: its description differs"


def test_the_quick_start_commands_are_make_targets_and_ci_runs_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    quick_start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = re.findall(r"^make (\w+)", quick_start, flags=re.MULTILINE)
    assert commands == ["compare", "test"]
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()

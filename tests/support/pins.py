"""A dependency whose private names we use must be the version they were written for.

Each module that holds a library's private names declares the range it was written for
(``WRITTEN_FOR``); pyproject.toml must pin that range, and the installed version must be in it.
An upgrade past it fails here first, naming the module to check before the pin is widened.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def declared(distribution: str) -> Requirement:
    """The requirement on ``distribution`` in pyproject.toml, runtime or dependency group."""
    project = tomllib.loads(PYPROJECT.read_text())
    groups = project.get("dependency-groups", {}).values()
    lines = [*project["project"]["dependencies"], *(line for group in groups for line in group)]
    for line in lines:
        if isinstance(line, str) and Requirement(line).name == distribution:
            return Requirement(line)
    raise LookupError(f"pyproject.toml does not require {distribution}")


def assert_written_for(distribution: str, written_for: str, module: str) -> None:
    installed = Version(metadata.version(distribution))
    assert installed in SpecifierSet(written_for), (
        f"{distribution} {installed} is outside {written_for}, the range {module} was written "
        "for: check its private names (docs/private-names.md), then widen WRITTEN_FOR and the pin"
    )
    pinned = declared(distribution).specifier
    upper = {spec for spec in SpecifierSet(written_for) if spec.operator == "<"}
    assert upper, f"{module}: WRITTEN_FOR {written_for} has no upper bound"
    assert upper <= set(pinned), (
        f"pyproject.toml pins {distribution}{pinned}; {module} needs the upper bound of "
        f"{written_for}"
    )

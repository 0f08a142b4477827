"""The leak check's example is what users copy (its docstring, docs/leaks.md): it runs as
written, with the fixtures it names, and the conftest line it gives is the one this suite uses."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import tests.conftest
from tests.support import leakcheck
from tests.support.leakcheck import LeakCheck

ROOT = Path(__file__).resolve().parent.parent
LEAKS_DOC = ROOT / "docs" / "leaks.md"  # not in a service generated without the twin
PLUGIN_LINE = 'pytest_plugins = ["tests.support.leakcheck"]'


def docstring_example() -> str:
    """The indented block after ``::`` in the module's docstring."""
    doc = leakcheck.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    return textwrap.dedent(block)


def docs_example() -> str:
    """The code block after the paragraph that introduces the helper in docs/leaks.md."""
    text = LEAKS_DOC.read_text()
    section = text.split("`tests/support/leakcheck.py` is that helper", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert found is not None, "docs/leaks.md lost the leak check's example"
    return found.group(1)


EXAMPLES = {"docstring": docstring_example}
if LEAKS_DOC.exists():
    EXAMPLES["docs/leaks.md"] = docs_example


@pytest.mark.parametrize("where", sorted(EXAMPLES))
async def test_the_example_runs_as_written(
    where: str, app: FastAPI, client: httpx.AsyncClient, leak_check: LeakCheck
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(EXAMPLES[where](), where, "exec"), namespace)  # noqa: S102 - our own text
    example: Callable[..., Coroutine[Any, Any, None]] = namespace[
        "test_reads_do_not_leak_connections"
    ]
    await example(app, client, leak_check)


def test_the_conftest_line_it_gives_is_the_one_the_suite_uses() -> None:
    assert "tests.support.leakcheck" in tests.conftest.pytest_plugins
    assert PLUGIN_LINE in (leakcheck.__doc__ or "")
    if LEAKS_DOC.exists():
        assert f"`{PLUGIN_LINE}`" in LEAKS_DOC.read_text()

"""The lines of a module that write into one of its globals, found in its source."""

from __future__ import annotations

from pathlib import Path

from load.probe.holders import writes_to, written_at

SOURCE = """\
import functools

_ITEMS = {}
_TASKS = set()
_LOG = []


def put(key, value):
    _ITEMS[key] = value


def start(task):
    _TASKS.add(task)
    other = {}
    other[1] = task


def note(line):
    _LOG.append(line)
    _ITEMS.setdefault(line, None)


@functools.lru_cache(maxsize=None)
def lookup(request):
    return request
"""


def test_item_assignment_and_adding_calls_are_found() -> None:
    assert writes_to(SOURCE, "_ITEMS") == [9, 20]
    assert writes_to(SOURCE, "_TASKS") == [13]
    assert writes_to(SOURCE, "_LOG") == [19]


def test_a_cached_function_is_found_at_its_definition() -> None:
    assert writes_to(SOURCE, "lookup") == [24]


def test_a_write_to_another_name_is_not_a_write_to_the_global() -> None:
    assert 15 not in writes_to(SOURCE, "_TASKS")


def test_unparsable_or_missing_source_gives_nothing(tmp_path: Path) -> None:
    assert writes_to("def (", "_ITEMS") == []
    assert written_at(str(tmp_path / "gone.py"), "_ITEMS") == []
    assert written_at(None, "_ITEMS") == []
    module = tmp_path / "mod.py"
    module.write_text(SOURCE)
    assert written_at(str(module), "_TASKS") == [f"{module}:13"]

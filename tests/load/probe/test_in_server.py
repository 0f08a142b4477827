"""The in-process probe on a deliberate leak: a module-level dict filled during the window."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tracemalloc
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from load.probe.in_server import Probe

LEAKY_MODULE = """\
_KEPT = {}


class Record:
    def __init__(self, key):
        self.key = key
        self.payload = str(key) * 100


def handle(key):
    _KEPT[key] = Record(key)
"""


@pytest.fixture
def leaky(tmp_path: Path) -> Iterator[types.ModuleType]:
    path = tmp_path / "probe_demo.py"
    path.write_text(LEAKY_MODULE)
    spec = importlib.util.spec_from_file_location("probe_demo", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_demo"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["probe_demo"]
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def test_a_window_names_the_line_the_type_and_the_global(
    leaky: types.ModuleType, tmp_path: Path
) -> None:
    probe = Probe(tmp_path / "probe")
    probe.folder.mkdir()
    assert probe.start(frames=4) == {"ok": True, "action": "start"}
    for key in range(2000):
        leaky.handle(key)
    found = probe.finish()
    probe.close()
    assert not tracemalloc.is_tracing()  # the window is closed: no cost after it
    module_file = str(tmp_path / "probe_demo.py")
    lines = {
        (trace["frames"][-1][0], trace["frames"][-1][1]): trace["size"]
        for trace in found["tracebacks"]
    }
    assert (module_file, 7) in lines  # the payload string, made on the leak's line
    assert lines[(module_file, 7)] >= 2000 * 100
    kept = next(t for t in found["types"] if t["type"] == "probe_demo.Record")
    assert kept["growth"] == 2000
    assert kept["held_by"] == "probe_demo._KEPT (dict) -> Record"
    assert kept["written_at"] == [f"{module_file}:11"]
    assert found["held"]["blocks"] >= 4000


def test_without_a_window_finish_says_so(tmp_path: Path) -> None:
    assert Probe(tmp_path).finish()["ok"] is False


def test_commands_arrive_through_the_folder_and_heap_lines_are_written(
    leaky: types.ModuleType, tmp_path: Path
) -> None:
    probe = Probe(tmp_path)
    (tmp_path / "command.json").write_text(json.dumps({"seq": 1, "action": "start"}))
    probe.tick()
    assert json.loads((tmp_path / f"{os.getpid()}-1.json").read_text())["ok"] is True
    leaky.handle("one")
    probe.last_sample = 0.0
    probe.tick()  # the same command is not run twice; a heap line is written
    heap = (tmp_path / f"heap-{os.getpid()}.txt").read_text().split()
    assert len(heap) >= 3
    assert int(heap[1]) > 0
    (tmp_path / "command.json").write_text(json.dumps({"seq": 2, "action": "finish"}))
    probe.tick()
    probe.close()
    assert json.loads((tmp_path / f"{os.getpid()}-2.json").read_text())["action"] == "finish"


GROUPED_MODULE = """\
KEPT = []
NOISE = {}


def handle(key):
    KEPT.append({"key": key, "tags": [str(key)]})


def bookkeeping(key):
    NOISE[key] = {"seen": [key]}
"""


def test_the_holder_is_sought_from_where_most_new_instances_were_made(tmp_path: Path) -> None:
    """The newest few dicts are some bookkeeping's; most of the window's were made by the leak.
    (Dicts that hold a list: gc tracks them, and objgraph counts only what gc tracks.)"""
    path = tmp_path / "probe_grouped.py"
    path.write_text(GROUPED_MODULE)
    spec = importlib.util.spec_from_file_location("probe_grouped", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_grouped"] = module
    try:
        spec.loader.exec_module(module)
        probe = Probe(tmp_path / "probe")
        probe.folder.mkdir()
        probe.start(frames=4)
        for key in range(150):
            module.handle(key)
        for key in range(5):  # made last: the newest dicts of all
            module.bookkeeping(key)
        found = probe.finish()
    finally:
        del sys.modules["probe_grouped"]
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    kept = next(t for t in found["types"] if t["type"] == "builtins.dict")
    assert kept["held_by"] == "probe_grouped.KEPT (list) -> dict"
    assert kept["written_at"] == [f"{path}:6"]

"""The in-process probe on a deliberate leak: a module-level dict filled during the window."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import types
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import objgraph
import pytest
import uvloop

from load.probe.attribution import END_OF_LOAD, ProbeChannel
from load.probe.in_server import LOOP_SEARCH_S, Probe, newest_instances

LEAKY_MODULE = """\
_KEPT = {}


class Record:
    def __init__(self, key):
        self.key = key
        self.payload = str(key) * 100


def handle(key):
    _KEPT[key] = Record(key)
"""


@contextlib.contextmanager
def imported(folder: Path, name: str, source: str) -> Iterator[types.ModuleType]:
    """``source`` written to ``folder/name.py`` and imported as ``name`` (a real module with a
    file, as chains and written-at lines need); forgotten, and any tracing stopped, after."""
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]
        if tracemalloc.is_tracing():
            tracemalloc.stop()


@pytest.fixture
def leaky(tmp_path: Path) -> Iterator[types.ModuleType]:
    with imported(tmp_path, "probe_demo", LEAKY_MODULE) as module:
        yield module


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
    with imported(tmp_path, "probe_grouped", GROUPED_MODULE) as module:
        probe = Probe(tmp_path / "probe")
        probe.start(frames=4)
        for key in range(150):
            module.handle(key)
        for key in range(5):  # made last: the newest dicts of all
            module.bookkeeping(key)
        # the search alone, after the collection finish() makes (the newest objects then sit
        # at the end of gc's lists): finish() shares a time budget among the types that grew,
        # which a loaded machine can spend on the others first
        gc.collect()
        held_by, written_at = probe.holder("builtins.dict")
    assert held_by == "probe_grouped.KEPT (list) -> dict"
    assert written_at == [f"{tmp_path / 'probe_grouped.py'}:6"]


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_the_tasks_of_the_running_loop_are_counted_from_another_thread(
    tmp_path: Path, run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    """As in a server: its loop runs in one thread, the probe counts from its own (a loop in
    C, uvloop, has no Python frame of its own: it is found through the task it runs)."""
    started, done = threading.Event(), threading.Event()

    async def serve() -> None:
        waiting = [asyncio.create_task(asyncio.sleep(30)) for _ in range(7)]
        started.set()
        await asyncio.to_thread(done.wait)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    server = threading.Thread(target=run, args=(serve(),))
    probe = Probe(tmp_path)
    assert probe.tasks() is None  # no loop runs yet
    server.start()
    try:
        assert started.wait(5)
        probe.loops_sought = -LOOP_SEARCH_S  # look again now
        assert probe.tasks() == 8  # seven sleepers and the main task
        probe.sample()
        line = (tmp_path / f"heap-{os.getpid()}.txt").read_text().split()
        assert line[3] == "8"
    finally:
        done.set()
        server.join(5)
        probe.close()


class Note:
    pass


def test_growth_collects_and_lists_the_types_that_grew_since_the_previous_call(
    tmp_path: Path,
) -> None:
    probe = Probe(tmp_path)
    try:
        assert probe.growth()["ok"] is True  # the reference point
        kept = [Note() for _ in range(300)]
        found = probe.growth()
    finally:
        probe.close()  # growth wrote a collected heap line
    grown = {entry["type"]: entry for entry in found["objects"]}
    assert grown[f"{__name__}.Note"]["delta"] == 300
    assert len(kept) == 300


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collect_writes_a_marked_heap_line_without_the_garbage_waiting_for_a_collection(
    tmp_path: Path,
) -> None:
    probe = Probe(tmp_path)
    gc.collect()
    gc.disable()  # the garbage below waits for a collection, as between a server's collections
    try:
        garbage = [Cycle() for _ in range(20_000)]
        del garbage
        probe.sample()
        (tmp_path / "command.json").write_text(json.dumps({"seq": 1, "action": "collect"}))
        probe.tick()
        command = {"seq": 2, "action": "collect", "label": END_OF_LOAD}
        (tmp_path / "command.json").write_text(json.dumps(command))
        probe.tick()
    finally:
        gc.enable()
        probe.close()
    assert json.loads((tmp_path / f"{os.getpid()}-1.json").read_text())["ok"] is True
    points = ProbeChannel(tmp_path).heap()
    waiting, collected, labelled = points[0], points[-2], points[-1]
    assert (waiting.collected, collected.collected, labelled.collected) == (False, True, True)
    assert waiting.blocks - collected.blocks > 15_000  # each cycle is at least its object
    assert (collected.label, labelled.label) == ("", END_OF_LOAD)


def test_the_launcher_puts_the_app_s_folder_first_after_its_own_imports(tmp_path: Path) -> None:
    """A revision of this project holds a `load` of its own: the lab's probe must still run,
    and the app's modules come from the app's folder."""
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "__init__.py").write_text("raise ImportError('the revision s load')\n")
    (tmp_path / "load" / "probe").mkdir()
    (tmp_path / "served.py").write_text(
        "import sys, load.probe\nprint(load.probe.__file__)\nprint(sys.argv[1:])\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-m", "load.probe", "--path", str(tmp_path), "served", "-p", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
        env={key: value for key, value in os.environ.items() if key != "LEAKPROOF_PROBE_DIR"},
    )  # fmt: skip
    probe_file, argv = result.stdout.splitlines()
    assert not probe_file.startswith(str(tmp_path))  # the lab's probe, not the revision's
    assert argv == "['-p', '1']"


ROOTED_MODULE = """\
from functools import cache


class Request:
    def __init__(self, key):
        self.key = key


class Row:
    pass


@cache
def dependency(request):
    return request.key


def handle(key):
    dependency(Request(key))


def stream():
    return [(Row(), Row(), Row(), [key], {"k": [key]}, {key}) for key in range(400)]
"""


def test_a_root_further_down_the_growth_is_searched_and_listed_with_its_holder(
    tmp_path: Path,
) -> None:
    """Per kept request one Request; a stream in flight made many more rows, tuples, lists,
    dicts and sets, held only by a local here (as a task's frame holds them). The Request is
    not among the five types that grew most, yet its holder (the cached dependency) is found
    and listed; an unheld type past the five is not listed."""
    with imported(tmp_path, "probe_rooted", ROOTED_MODULE) as module:
        probe = Probe(tmp_path / "probe")
        probe.start(frames=1)
        for key in range(50):
            module.handle(key)
        in_flight = module.stream()
        found = probe.finish()
        del in_flight
    names = [grown["type"] for grown in found["types"]]
    assert "probe_rooted.Request" in names[5:]  # after the five that grew most
    request = next(grown for grown in found["types"] if grown["type"] == "probe_rooted.Request")
    assert (
        request["held_by"]
        == "probe_rooted.dependency (_lru_cache_wrapper) -> dict -> tuple -> Request"
    )
    assert all(grown["held_by"] for grown in found["types"][5:])


def test_a_search_past_its_deadline_gives_up_without_an_answer(leaky: types.ModuleType) -> None:
    for key in range(10):
        leaky.handle(key)
    gc.collect()
    assert Probe(Path()).holder("probe_demo.Record", deadline=time.monotonic() - 1) == (None, [])
    assert Probe(Path()).holder("probe_demo.Record")[0] == "probe_demo._KEPT (dict) -> Record"


def test_newest_instances_names_types_as_objgraph_counts_them(leaky: types.ModuleType) -> None:
    for key in range(10):
        leaky.handle(key)
    gc.collect()
    every = newest_instances({"probe_demo.Record"}, 100)["probe_demo.Record"]
    assert sorted(record.key for record in every) == list(range(10))
    assert len(newest_instances({"probe_demo.Record"}, 3)["probe_demo.Record"]) == 3
    assert "probe_demo.Record" in objgraph.typestats(shortnames=False)

"""The lab's in-process probe: heap tracing and attribution inside a server it did not change.

``python -m load.probe uvicorn app.main:app ...`` (or ``gunicorn ...``) starts a probe thread
and then runs the server as ``python -m`` would; under gunicorn every forked worker starts its
own. ``python -P -m load.probe --path DIR ...`` puts the served app's folder first on the path
once the probe itself is imported: an app whose folder holds a ``load`` package of its own (a
git revision of this project) still runs under this lab's probe. The lab talks to the probes
through a folder (``LEAKPROOF_PROBE_DIR``): it writes ``command.json``; each process answers in
``<pid>-<seq>.json``.

- Always, every ``SAMPLE_S``: a line ``time blocks traced_bytes tasks`` in ``heap-<pid>.txt``;
  right after the probe collected garbage, the line ends in ``gc`` (the heap with no garbage
  waiting for a collection: what a later collected heap is compared with).
  Blocks are the memory blocks the interpreter has allocated and not freed
  (``sys.getallocatedblocks``, a counter kept anyway: free to read): the Python heap's size in
  objects, which an object leak grows and allocator retention does not. ``traced_bytes`` is 0
  outside a window. ``tasks`` counts the unfinished asyncio tasks of the event loops running in
  the process (``-`` before the server's loop runs): an app without a /metrics of its own still
  shows tasks that pile up. No search of the heap while the server runs (see running_loops).
- ``collect``: collect garbage and write a heap line, ending in ``gc LABEL`` when given a label:
  the lab's references under load, at the end of warm-up and at the load's end (``end``).
- ``growth``: collect garbage and list the object types that grew since the previous call
  (objgraph), what ``/debug/growth`` does in this project's app, for any app.
- ``start``: collect garbage, count objects by type, start tracemalloc. Tracing slows every
  allocation several times over, so the lab opens a window only on a build that grows, and
  only for a few seconds at the end of its load.
- ``finish``: collect garbage and snapshot, twice, half a second apart. What the window allocated
  and still holds at both looks is what grew (load/probe/looks.py); it is grouped by traceback,
  and the types that grew get one back-reference chain each where one is found in time
  (``growing_types``), from an instance the window allocated. Then tracing stops.

It imports nothing of the app, and of the lab only ``load.probe.chains``, ``load.probe.holders``
and ``load.probe.looks``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import faulthandler
import gc
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import objgraph

from load.probe.chains import describe_chain
from load.probe.holders import written_at
from load.probe.looks import held_at_both

DIR_ENV = "LEAKPROOF_PROBE_DIR"
POLL_S = 0.05
SAMPLE_S = 0.1
TOP_TRACEBACKS = 300
TOP_TYPES = 5  # the types that grew most, listed with or without a holder
CHASED_TYPES = 15  # the types searched for a holder while CHAIN_BUDGET_S lasts
CHAIN_DEPTH = 8
CHAIN_TRIES = 3
CANDIDATES = 200  # the newest instances of a type grouped by where they were made
SECOND_LOOK_S = 0.5  # between the two looks at a window's end (load/probe/looks.py)
CHAIN_BUDGET_S = 30.0  # all the holder searches of a window
TYPE_BUDGET_S = 5.0  # one type's: a type whose instances lie deep does not starve the others
MIN_TYPE_GROWTH = 5  # fewer new instances in a window are noise, not growth
GROWTH_TYPES = 20  # the object types a growth answer lists
HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a type made by a class statement
LOOP_SEARCH_S = 2.0  # how often the server's event loop is looked for until it runs
# the probe's and tracemalloc's own bookkeeping, and the import machinery's
EXCLUDED = (__file__, tracemalloc.__file__, objgraph.__file__, "<frozen importlib._bootstrap>",
            "<frozen importlib._bootstrap_external>", "<unknown>")  # fmt: skip


class Probe:
    """One per process: follows the command file and answers with this process's figures."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen = -1
        self.types_at_start: dict[str, int] = {}
        self.heap_file: TextIO | None = None
        self.last_sample = 0.0
        self.loops: list[weakref.ReferenceType[asyncio.AbstractEventLoop]] = []
        self.loops_sought = -LOOP_SEARCH_S
        self.growth_peaks: dict[str, int] = {}
        self.serves = True  # False in a gunicorn arbiter (it forked workers): no loop to seek

    def run(self) -> None:
        self.seen = self.current_seq()  # a forked worker does not replay its parent's commands
        while True:
            time.sleep(POLL_S)
            with contextlib.suppress(Exception):  # the probe must never take the server down
                self.tick()

    def current_seq(self) -> int:
        try:
            return int(json.loads((self.folder / "command.json").read_text())["seq"])
        except (OSError, ValueError, KeyError):
            return -1

    def tick(self) -> None:
        if time.monotonic() - self.last_sample >= SAMPLE_S:
            with contextlib.suppress(OSError):  # a full disk stops the samples, not the commands
                self.sample()
        try:
            command = json.loads((self.folder / "command.json").read_text())
        except (OSError, ValueError):
            return
        seq = int(command.get("seq", -1))
        if seq <= self.seen:
            return
        self.seen = seq
        pids = command.get("pids")
        if pids is not None and os.getpid() not in pids:
            return  # addressed to the workers: the gunicorn arbiter serves no request
        try:
            action = command.get("action")
            if action == "start":
                answer = self.start(int(command.get("frames", 1)))
            elif action == "finish":
                answer = self.finish()
            elif action == "growth":
                answer = self.growth()
            elif action == "collect":
                answer = self.collect(str(command.get("label", "")))
            else:
                answer = {"ok": False, "error": f"unknown action {action!r}"}
        except Exception as error:  # answered, so the lab does not wait for nothing
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        self.write(seq, answer)

    def start(self, frames: int) -> dict[str, Any]:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        gc.collect()
        self.types_at_start = objgraph.typestats(shortnames=False)
        tracemalloc.start(frames)
        return {"ok": True, "action": "start"}

    def sample(self, *, collected: bool = False, label: str = "") -> None:
        self.last_sample = time.monotonic()
        if self.heap_file is None:  # opened here, after any fork: each process its own file
            self.heap_file = (self.folder / f"heap-{os.getpid()}.txt").open("a", buffering=1)
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        tasks = self.tasks()
        mark = (f" gc {label}" if label else " gc") if collected else ""
        self.heap_file.write(
            f"{time.time():.3f} {sys.getallocatedblocks()} {traced} "
            f"{'-' if tasks is None else tasks}{mark}\n"
        )

    def tasks(self) -> int | None:
        """Unfinished asyncio tasks of the running event loops (None: no loop runs yet).

        The server's loop runs in the main thread and this is another: the loop is looked for
        in the threads' frames (at most every LOOP_SEARCH_S until one runs), then kept, and
        ``asyncio.all_tasks(loop)`` counts its tasks.
        """
        running = [loop for ref in self.loops if (loop := ref()) is not None and loop.is_running()]
        if not running and self.serves and time.monotonic() - self.loops_sought >= LOOP_SEARCH_S:
            self.loops_sought = time.monotonic()
            running = running_loops()
            self.loops = [weakref.ref(loop) for loop in running]
        if not running:
            return None
        return sum(len(asyncio.all_tasks(loop)) for loop in running)

    def collect(self, label: str = "") -> dict[str, Any]:
        """Collect garbage and write the heap as it is then, marked as collected (and labelled:
        one word, which the lab looks the line up by)."""
        gc.collect()
        self.sample(collected=True, label="".join(label.split()))
        return {"ok": True, "action": "collect"}

    def growth(self) -> dict[str, Any]:
        """Collect garbage (a collected heap line), then the object types that grew since the
        previous call."""
        self.collect()
        grown = objgraph.growth(limit=GROWTH_TYPES, peak_stats=self.growth_peaks, shortnames=False)
        objects = [{"type": name, "count": count, "delta": delta} for name, count, delta in grown]
        return {"ok": True, "action": "growth", "objects": objects}

    def finish(self) -> dict[str, Any]:
        if not tracemalloc.is_tracing():
            return {"ok": False, "action": "finish", "error": "no tracing window was started"}
        try:
            first = self.look()
            time.sleep(SECOND_LOOK_S)  # the server runs on: what was passing through moves on
            second = self.look()
            types = self.growing_types()  # its own allocations came after the looks
        finally:
            tracemalloc.stop()  # whatever happens, the window's cost ends here
        statistics = held_at_both(first, second)
        held = {
            "bytes": sum(stat.size for stat in statistics),
            "blocks": sum(stat.count for stat in statistics),
        }
        tracebacks = [
            {
                "size": stat.size,
                "count": stat.count,
                "frames": [[frame.filename, frame.lineno] for frame in stat.traceback],
            }
            for stat in statistics[:TOP_TRACEBACKS]
        ]
        del first, second, statistics
        return {
            "ok": True, "action": "finish", "tracebacks": tracebacks, "types": types, "held": held
        }  # fmt: skip

    @staticmethod
    def look() -> list[tracemalloc.Statistic]:
        """The window's traces after a collection, by traceback, the probe's own left out."""
        gc.collect()
        return (
            tracemalloc.take_snapshot()
            .filter_traces([tracemalloc.Filter(False, name, all_frames=True) for name in EXCLUDED])
            .statistics("traceback")
        )

    def growing_types(self) -> list[dict[str, Any]]:
        """The types that grew most in the window, each with a holder if one is found in time.

        The TOP_TYPES that grew most are always listed. The instances a leak keeps per request
        are often fewer than some transient's (the rows of a stream in flight, the tuples of a
        query), and a library's per-request root (a ``Request`` kept as a cache key) sits
        further down: the next types, up to CHASED_TYPES, are searched too while the budget
        lasts, and listed only when a holder is found.
        """
        now = objgraph.typestats(shortnames=False)
        growth = sorted(
            ((name, count - self.types_at_start.get(name, 0)) for name, count in now.items()),
            key=lambda pair: -pair[1],
        )
        grown = [(name, count) for name, count in growth[:CHASED_TYPES] if count >= MIN_TYPE_GROWTH]
        listed = {name for name, _ in grown[:TOP_TYPES]}
        # objects frozen by gc.freeze() (an app that freezes after start-up: its modules) are
        # invisible to gc's referrer search, so a chain could never reach a module: thaw them
        # for the search, counted above without them as at the window's start, then refreeze
        frozen = gc.get_freeze_count() > 0
        gc.unfreeze()
        # each step of objgraph's search scans every object: on a heap of millions a search
        # takes seconds, so the searches share a budget, and the types classes define go
        # first: a leak's root is some code's concept (an app's model, a framework's Request),
        # while tuples, cells and a driver's records are what such a root holds
        deadline = time.monotonic() + CHAIN_BUDGET_S
        try:
            newest = newest_instances({name for name, _ in grown}, CANDIDATES)
            lists = (id(newest), *map(id, newest.values()))  # not holders: the search's own
            order = sorted(grown, key=lambda pair: not defined_by_a_class(newest.get(pair[0], [])))
            found = []
            for name, count in order:
                held_by: str | None = None
                written: list[str] = []
                if time.monotonic() < deadline:
                    with contextlib.suppress(Exception):  # a holder not found is no answer lost
                        held_by, written = self.holder(
                            name,
                            newest.get(name, []),
                            min(deadline, time.monotonic() + TYPE_BUDGET_S),
                            ignore=lists,
                        )
                if name in listed or held_by is not None:
                    found.append(
                        {"type": name, "growth": count, "held_by": held_by, "written_at": written}
                    )
            return sorted(found, key=lambda grown: -grown["growth"])
        finally:
            if frozen:
                gc.collect()  # garbage made meanwhile is not frozen with the live objects
                gc.freeze()

    def holder(
        self,
        type_name: str,
        newest: list[Any] | None = None,
        deadline: float | None = None,
        ignore: tuple[int, ...] = (),
    ) -> tuple[str | None, list[str]]:
        """A chain from a module to one of the newest instances of the type, and the lines of
        that module that write into the global the chain starts from.

        ``newest``: the type's newest instances, newest first (``newest_instances``); found
        here when not given. Instances the window allocated are preferred, and among them
        those made where most of them were made (the same traceback): a leak's instances pile
        up from one place, while the newest few may be some library's bookkeeping. tracemalloc
        cannot tell where instances of plain classes were made on Python 3.11 (their memory
        starts before the object): then the newest few are tried in turn, while ``deadline``
        (a time.monotonic() value) has not passed. ``ignore``: ids of the caller's own lists.
        """
        if newest is None:
            newest = newest_instances({type_name}, CANDIDATES).get(type_name, [])
        made_at: dict[tracemalloc.Traceback, list[Any]] = {}
        for obj in newest:
            traceback = tracemalloc.get_object_traceback(obj)
            if traceback is not None:
                made_at.setdefault(traceback, []).append(obj)
        tries = (max(made_at.values(), key=len) if made_at else newest)[:CHAIN_TRIES]
        own = (id(sys._getframe()), id(newest), id(tries), id(made_at), *map(id, made_at.values()),
               *ignore)  # fmt: skip
        reached = module_before(deadline)
        for target in tries:
            try:
                chain = objgraph.find_backref_chain(
                    target, reached, max_depth=CHAIN_DEPTH, extra_ignore=own
                )
            except OutOfTime:
                break
            if len(chain) > 1 and objgraph.is_proper_module(chain[0]):
                return describe_chain(chain), self.writes(chain)
        return None, []

    @staticmethod
    def writes(chain: list[Any]) -> list[str]:
        """The lines of the chain's module that write into the global it starts from."""
        module = chain[0]
        if len(chain) > 2 and chain[1] is vars(module):
            names = [key for key, value in vars(module).items() if value is chain[2]]
            if names:
                return written_at(getattr(module, "__file__", None), names[0])
        return []

    def close(self) -> None:
        """The heap file; a server's probe keeps it open for the process's life."""
        if self.heap_file is not None:
            self.heap_file.close()
            self.heap_file = None

    def write(self, seq: int, answer: dict[str, Any]) -> None:
        answer.update(pid=os.getpid(), seq=seq)
        final = self.folder / f"{os.getpid()}-{seq}.json"
        partial = final.with_suffix(".part")
        partial.write_text(json.dumps(answer))
        partial.replace(final)  # the lab never reads half an answer


def long_type_name(kind: type) -> str:
    """A type as objgraph's ``typestats(shortnames=False)`` names it: ``module.Name``."""
    module = getattr(kind, "__module__", None)
    return f"{module}.{kind.__name__}" if module else kind.__name__


class OutOfTime(Exception):
    """A holder search ran past its deadline."""


def module_before(deadline: float | None) -> Callable[[object], bool]:
    """objgraph's goal for a chain (a module), which raises OutOfTime once ``deadline`` (a
    time.monotonic() value) has passed: objgraph's search asks it of every object it reaches,
    each step a scan of the whole heap, and has no time limit of its own."""

    def reached(obj: object) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            raise OutOfTime
        return bool(objgraph.is_proper_module(obj))

    return reached


def defined_by_a_class(instances: list[Any]) -> bool:
    """Whether these objects' type comes from a ``class`` statement in Python source (a heap
    type whose module is a ``.py`` file), not from C (a builtin, an extension's record)."""
    if not instances:
        return False
    kind = type(instances[0])
    module = sys.modules.get(getattr(kind, "__module__", ""))
    source = str(getattr(module, "__file__", None) or "")
    return bool(kind.__flags__ & HEAP_TYPE) and source.endswith(".py")


def newest_instances(type_names: set[str], most: int) -> dict[str, list[Any]]:
    """The last ``most`` gc-tracked instances of each named type in gc's lists, last first: after
    a collection, roughly the newest (a collection moves some objects to the end): one pass over
    gc's objects, naming each type once (objgraph's by_type names every object: seconds on a
    heap of millions, for each type)."""
    names: dict[type, str] = {}
    kept: dict[str, collections.deque[Any]] = {
        name: collections.deque(maxlen=most) for name in type_names
    }
    for obj in gc.get_objects():
        kind = type(obj)
        name = names.get(kind)
        if name is None:
            name = names[kind] = long_type_name(kind)
        if name in kept:
            kept[name].append(obj)
    return {name: list(reversed(objects)) for name, objects in kept.items()}


def running_loops() -> list[asyncio.AbstractEventLoop]:
    """The event loops running in this process, found among the locals of its threads' frames.

    A loop written in Python has itself (``self``) in the frames that run it; one written in C
    (uvloop) is a local of the function that runs it (uvicorn's ``asyncio_run``), or the loop of
    the task ``asyncio.Runner.run`` waits on. Not a search of the heap: ``gc.get_objects()``
    from this thread can hand out a tuple another thread is still building, which CPython then
    refuses to resize (a SystemError that once stopped a server importing SQLAlchemy).
    ``sys._current_frames`` is documented (the sys module), for tools like this one.
    """
    found: dict[int, asyncio.AbstractEventLoop] = {}
    for frame in sys._current_frames().values():
        current: FrameType | None = frame
        while current is not None:
            for value in list(current.f_locals.values()):
                kind = type(value)  # not isinstance(): a proxy's __class__ may raise
                loop = (
                    value
                    if issubclass(kind, asyncio.AbstractEventLoop)
                    else value.get_loop()
                    if issubclass(kind, asyncio.Future)
                    else None
                )
                if loop is not None and loop.is_running():
                    found[id(loop)] = loop
            current = current.f_back
    return list(found.values())


def install(folder: Path) -> None:
    """Start the probe in this process and in every process forked from it."""

    def start() -> Probe:
        probe = Probe(folder)
        threading.Thread(target=probe.run, name="leakproof-probe", daemon=True).start()
        return probe

    def start_in_child() -> None:
        if tracemalloc.is_tracing():  # forked mid-window: the parent's window is not the child's
            tracemalloc.stop()
        start()

    def forked() -> None:  # a process that forks workers (gunicorn's arbiter) serves no request
        parent.serves = False

    parent = start()
    os.register_at_fork(after_in_child=start_in_child, after_in_parent=forked)


USAGE = "usage: python -m load.probe [--path DIR] MODULE [ARGS...]  (e.g. uvicorn app.main:app)"


def main() -> None:
    folder = os.environ.get(DIR_ENV)
    arguments = sys.argv[1:]
    if arguments[:1] == ["--path"]:
        if len(arguments) < 2:
            sys.exit(USAGE)
        sys.path.insert(0, arguments[1])  # the app's folder, after the probe's own imports
        arguments = arguments[2:]
    if not arguments:
        sys.exit(USAGE)
    # a crash in native code (a driver, a profiler's hooks) leaves the Python stack of every
    # thread in the server's log, not only a signal in its exit status
    faulthandler.enable()
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        install(Path(folder))
    module = arguments[0]
    sys.argv = [module, *arguments[1:]]
    with contextlib.suppress(KeyboardInterrupt):
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

"""The lab's in-process probe: heap tracing and attribution inside a server it did not change.

``python -m load.probe uvicorn app.main:app ...`` (or ``gunicorn ...``) starts a probe thread
and then runs the server as ``python -m`` would; under gunicorn every forked worker starts its
own. The lab talks to the probes through a folder (``LEAKPROOF_PROBE_DIR``): it writes
``command.json``; each process answers in ``<pid>-<seq>.json``.

- Always, every ``SAMPLE_S``: a line ``time blocks traced_bytes`` in ``heap-<pid>.txt``. Blocks
  are the memory blocks the interpreter has allocated and not freed (``sys.getallocatedblocks``,
  a counter kept anyway: free to read): the Python heap's size in objects, which an object leak
  grows and allocator retention does not. ``traced_bytes`` is 0 outside a window.
- ``start``: collect garbage, count objects by type, start tracemalloc. Tracing slows every
  allocation several times over, so the lab opens a window only on a build that grows, and
  only for a few seconds at the end of its load.
- ``finish``: collect garbage and snapshot. What the window allocated and still holds at its end
  is what grew; it is grouped by traceback, and the types that grew get one back-reference chain
  each, from an instance the window allocated. Then tracing stops.

It imports nothing of the app, and of the lab only ``load.probe.chains`` and ``load.probe.holders``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, TextIO

import objgraph

from load.probe.chains import describe_chain
from load.probe.holders import written_at

DIR_ENV = "LEAKPROOF_PROBE_DIR"
POLL_S = 0.05
SAMPLE_S = 0.1
TOP_TRACEBACKS = 300
TOP_TYPES = 5
CHAIN_DEPTH = 8
CHAIN_TRIES = 3
CHAIN_BUDGET_S = 15.0
MIN_TYPE_GROWTH = 5  # fewer new instances in a window are noise, not growth
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

    def sample(self) -> None:
        self.last_sample = time.monotonic()
        if self.heap_file is None:  # opened here, after any fork: each process its own file
            self.heap_file = (self.folder / f"heap-{os.getpid()}.txt").open("a", buffering=1)
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        self.heap_file.write(f"{time.time():.3f} {sys.getallocatedblocks()} {traced}\n")

    def finish(self) -> dict[str, Any]:
        if not tracemalloc.is_tracing():
            return {"ok": False, "action": "finish", "error": "no tracing window was started"}
        try:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            types = self.growing_types()  # its own allocations came after the snapshot
        finally:
            tracemalloc.stop()  # whatever happens, the window's cost ends here
        statistics = snapshot.filter_traces(
            [tracemalloc.Filter(False, name, all_frames=True) for name in EXCLUDED]
        ).statistics("traceback")
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
        del snapshot, statistics
        return {
            "ok": True, "action": "finish", "tracebacks": tracebacks, "types": types, "held": held
        }  # fmt: skip

    def growing_types(self) -> list[dict[str, Any]]:
        now = objgraph.typestats(shortnames=False)
        growth = sorted(
            ((name, count - self.types_at_start.get(name, 0)) for name, count in now.items()),
            key=lambda pair: -pair[1],
        )
        grown = [(name, count) for name, count in growth[:TOP_TYPES] if count >= MIN_TYPE_GROWTH]
        # objects frozen by gc.freeze() (an app that freezes after start-up: its modules) are
        # invisible to gc's referrer search, so a chain could never reach a module: thaw them
        # for the search, counted above without them as at the window's start, then refreeze
        frozen = gc.get_freeze_count() > 0
        gc.unfreeze()
        # each step of objgraph's search scans every object: on a heap of millions a search
        # takes seconds, so the app's own types go first and the searches share a budget
        deadline = time.monotonic() + CHAIN_BUDGET_S
        order = sorted(grown, key=lambda pair: pair[0].startswith("builtins."))
        try:
            found = []
            for name, count in order:
                held_by: str | None = None
                written: list[str] = []
                if time.monotonic() < deadline:
                    with contextlib.suppress(Exception):  # a holder not found is no answer lost
                        held_by, written = self.holder(name)
                found.append(
                    {"type": name, "growth": count, "held_by": held_by, "written_at": written}
                )
            return found
        finally:
            if frozen:
                gc.collect()  # garbage made meanwhile is not frozen with the live objects
                gc.freeze()

    def holder(self, type_name: str) -> tuple[str | None, list[str]]:
        """A chain from a module to one of the newest instances of the type, and the lines of
        that module that write into the global the chain starts from.

        The newest instances sit at the end of gc's lists. An instance the window allocated is
        preferred; tracemalloc cannot tell that for instances of plain classes on Python 3.11
        (their memory starts before the object), so the newest few are tried in turn.
        """
        candidates = objgraph.by_type(type_name)
        newest = candidates[-CHAIN_TRIES:][::-1]
        traced = [obj for obj in newest if tracemalloc.get_object_traceback(obj) is not None]
        del candidates
        for target in traced or newest:
            chain = objgraph.find_backref_chain(
                target, objgraph.is_proper_module, max_depth=CHAIN_DEPTH,
                extra_ignore=(id(sys._getframe()), id(newest), id(traced)),
            )  # fmt: skip
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


def install(folder: Path) -> None:
    """Start the probe in this process and in every process forked from it."""

    def start() -> None:
        thread = threading.Thread(target=Probe(folder).run, name="leakproof-probe", daemon=True)
        thread.start()

    def start_in_child() -> None:
        if tracemalloc.is_tracing():  # forked mid-window: the parent's window is not the child's
            tracemalloc.stop()
        start()

    start()
    os.register_at_fork(after_in_child=start_in_child)


def main() -> None:
    folder = os.environ.get(DIR_ENV)
    if len(sys.argv) < 2:
        sys.exit("usage: python -m load.probe MODULE [ARGS...]  (e.g. uvicorn app.main:app)")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        install(Path(folder))
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    with contextlib.suppress(KeyboardInterrupt):
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

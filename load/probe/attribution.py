"""The lab's side of the probe: open and close a tracing window, read the heap, name the sites.

Each server process answers a command in a file of its own (load/probe/in_server.py). A worker
that gunicorn recycled before the window closed cannot answer: its sites are missing, and the report
says so. Sites from several workers are merged by allocating line.
"""

from __future__ import annotations

import json
import os
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024
ANSWER_TIMEOUT_S = 120.0  # gc, a snapshot and objgraph's walk over a twin that kept millions
TOP_SITES = 10
TOP_TYPES = 5
# a site must hold at least this much to be shown: below it, what a window happens to hold
# when it closes (a request in flight, a buffer) is noise, not growth
MIN_SITE_MB = 0.01
# fewer blocks than this at one line is a few objects, not growth per request: listed after
MIN_SITE_BLOCKS = 10
TAIL_BYTES = 256  # more than one heap line
# the label of the collected heap each worker writes at the load's end, while it still runs: with
# the settled heap after it, what the requests in flight hold (load/judge/after_load.py)
END_OF_LOAD = "end"
# and the label of one the lab asks for under the load before it calls an object leak: whether a
# collection bears the growth out yet (load/judge/after_load.py: not_kept_yet)
UNDER_LOAD = "now"
LIBRARY_ROOTS = tuple(
    {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)


@dataclass
class HeapPoint:
    ts: float
    pid: int
    blocks: int  # memory blocks the interpreter holds (sys.getallocatedblocks)
    collected: bool = False  # taken right after a gc.collect(): no garbage waiting in it
    tasks: int | None = None  # the process's unfinished asyncio tasks (None: not counted)
    label: str = ""  # what the lab asked the collection for (END_OF_LOAD)


@dataclass
class Attribution:
    sites: list[dict[str, Any]] = field(default_factory=list)
    types: list[dict[str, Any]] = field(default_factory=list)
    bytes_per_block: float | None = None  # of what the window held: turns blocks into bytes
    answered: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ProbeChannel:
    """Commands to every probe of one build, through its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seq = 0
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, action: str, **params: Any) -> int:
        self.seq += 1
        partial = self.folder / "command.part"
        partial.write_text(json.dumps({"seq": self.seq, "action": action, **params}))
        partial.replace(self.folder / "command.json")
        return self.seq

    def answers(
        self, seq: int, pids: list[int], timeout_s: float = ANSWER_TIMEOUT_S
    ) -> dict[int, dict[str, Any]]:
        """What each pid answered to ``seq``; a pid that does not answer in time is left out."""
        deadline = time.monotonic() + timeout_s
        found: dict[int, dict[str, Any]] = {}
        waiting = list(pids)
        while waiting and time.monotonic() < deadline:
            for pid in list(waiting):
                path = self.folder / f"{pid}-{seq}.json"
                if path.exists():
                    found[pid] = json.loads(path.read_text())
                    waiting.remove(pid)
                elif not psutil.pid_exists(pid):  # recycled meanwhile: it never will
                    waiting.remove(pid)
            if waiting:
                time.sleep(0.1)
        return found

    def heap(self, pids: set[int] | None = None) -> list[HeapPoint]:
        """The heap samples of these processes (the workers; not a gunicorn arbiter's)."""
        points = []
        for path in sorted(self.folder.glob("heap-*.txt")):
            pid = int(path.stem.removeprefix("heap-"))
            if pids is not None and pid not in pids:
                continue
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:  # a line being written may have fewer; blocks are the second
                    points.append(
                        HeapPoint(
                            float(parts[0]),
                            pid,
                            int(parts[1]),
                            collected=len(parts) >= 5 and parts[4] == "gc",
                            tasks=int(parts[3]) if len(parts) >= 4 and parts[3].isdigit() else None,
                            label=parts[5] if len(parts) >= 6 else "",
                        )
                    )
        points.sort(key=lambda point: point.ts)
        return points

    def tasks(self, pids: list[int]) -> float | None:
        """The asyncio tasks of these processes at their latest complete heap line, summed
        (None: no process counted any yet). Only each file's tail is read: it is polled."""
        counted = [count for pid in pids if (count := self._latest_tasks(pid)) is not None]
        return float(sum(counted)) if counted else None

    def _latest_tasks(self, pid: int) -> int | None:
        try:
            with (self.folder / f"heap-{pid}.txt").open("rb") as lines:
                lines.seek(0, os.SEEK_END)
                lines.seek(max(0, lines.tell() - TAIL_BYTES))
                tail = lines.read().decode(errors="replace")
        except OSError:
            return None
        complete = tail.split("\n")[:-1]  # what follows the last newline is being written
        parts = complete[-1].split() if complete else []
        return int(parts[3]) if len(parts) >= 4 and parts[3].isdigit() else None

    def ask(
        self, action: str, pids: list[int], timeout_s: float = ANSWER_TIMEOUT_S, **params: Any
    ) -> dict[int, dict[str, Any]]:
        """Send one command to these processes and wait for their answers."""
        return self.answers(self.send(action, pids=pids, **params), pids, timeout_s)


def relative(path: str, app_dir: Path) -> str:
    """A path inside the served app's folder, relative to it; any other path as it is."""
    try:
        return str(Path(path).resolve().relative_to(app_dir.resolve()))
    except ValueError:
        return path


def in_app(path: str, app_dir: Path) -> bool:
    """Code of the served app: under its folder and not an installed library."""
    resolved = os.path.realpath(path)
    if any(resolved.startswith(os.path.realpath(root)) for root in LIBRARY_ROOTS):
        return False
    return resolved.startswith(os.path.realpath(app_dir) + os.sep)


def site_frame(frames: list[list[Any]], app_dir: Path) -> tuple[str, int]:
    """The line to blame: the innermost frame in the app's own code, else the innermost one.

    A dict built by a library on the app's behalf is the app line's doing: that line is the
    one a reader can change. tracemalloc lists frames from the oldest to the newest.
    """
    for filename, lineno in reversed(frames):
        if in_app(filename, app_dir):
            return filename, int(lineno)
    filename, lineno = frames[-1]
    return filename, int(lineno)


def merge_sites(
    answers: list[dict[str, Any]], app_dir: Path, limit: int = TOP_SITES
) -> list[dict[str, Any]]:
    """Tracebacks from every worker, grouped by the line they blame, largest first."""
    merged: dict[tuple[str, int], dict[str, Any]] = {}
    for answer in answers:
        for trace in answer.get("tracebacks", []):
            frames = trace["frames"]
            if not frames:
                continue
            filename, lineno = site_frame(frames, app_dir)
            site = merged.setdefault(
                (filename, lineno),
                {"size": 0, "count": 0, "largest": 0, "traceback": [],
                 "in_app": in_app(filename, app_dir)},
            )  # fmt: skip
            site["size"] += trace["size"]
            site["count"] += trace["count"]
            if trace["size"] > site["largest"]:
                site["largest"] = trace["size"]
                site["traceback"] = [
                    f"{relative(name, app_dir)}:{line}" for name, line in reversed(frames)
                ]
    # lines of the app first: a reader can change those; C code run from the event loop (a
    # driver decoding rows) has no Python line of its own and is listed after them. Among each,
    # what grew in many blocks before a few big ones: a line that keeps something per request
    # holds many, while one buffer held as the window closed (an export's last chunk) is one
    ranked = sorted(
        merged.items(),
        key=lambda item: (
            not item[1]["in_app"],
            item[1]["count"] < MIN_SITE_BLOCKS,
            -item[1]["size"],
        ),
    )
    shown = [(site, found) for site, found in ranked if found["size"] / MB >= MIN_SITE_MB]
    return [
        {
            "file": relative(filename, app_dir),
            "line": lineno,
            "growth_mb": round(site["size"] / MB, 3),
            "count": site["count"],
            "traceback": site["traceback"],
        }
        for (filename, lineno), site in shown[:limit]
    ]


def merge_types(
    answers: list[dict[str, Any]], app_dir: Path, limit: int = TOP_TYPES
) -> list[dict[str, Any]]:
    """Types that grew, summed over workers; the chain from the worker where it grew most."""
    merged: dict[str, dict[str, Any]] = {}
    for answer in answers:
        for grown in answer.get("types", []):
            entry = merged.setdefault(
                grown["type"], {"growth": 0, "held_by": None, "written_at": [], "most": 0}
            )
            entry["growth"] += grown["growth"]
            if grown["growth"] > entry["most"] and grown.get("held_by"):
                entry["most"] = grown["growth"]
                entry["held_by"] = grown["held_by"]
                entry["written_at"] = grown.get("written_at") or []
    # types with a holder first: what keeps them is the answer; then the app's own types: they
    # name its concepts, and a builtin container that grew (a dict, a set) is usually held by one
    ranked = sorted(
        merged.items(),
        key=lambda item: (
            item[1]["held_by"] is None, item[0].startswith("builtins."), -item[1]["growth"]
        ),
    )  # fmt: skip
    return [
        {
            "type": name,
            "growth": entry["growth"],
            "held_by": entry["held_by"],
            # the app's own lines: a global of the standard library is not the reader's to fix
            "written_at": [
                _relative_site(site, app_dir)
                for site in entry["written_at"]
                if in_app(site.rpartition(":")[0], app_dir)
            ],
        }
        for name, entry in ranked[:limit]
    ]


def _relative_site(site: str, app_dir: Path) -> str:
    path, _, line = site.rpartition(":")
    return f"{relative(path, app_dir)}:{line}"


def collect(
    channel: ProbeChannel,
    seq: int,
    pids: list[int],
    app_dir: Path,
    timeout_s: float = ANSWER_TIMEOUT_S,
) -> Attribution:
    answers = channel.answers(seq, pids, timeout_s)
    result = Attribution(answered=sorted(answers))
    missing = sorted(set(pids) - set(answers))
    if missing:
        result.notes.append(
            f"no attribution from worker(s) {', '.join(map(str, missing))}: recycled or too busy "
            "to answer before the window closed; their sites are not counted"
        )
    usable = [answer for answer in answers.values() if answer.get("ok")]
    for answer in answers.values():
        if not answer.get("ok"):
            result.notes.append(f"probe in {answer.get('pid')}: {answer.get('error')}")
    held_bytes = sum(answer.get("held", {}).get("bytes", 0) for answer in usable)
    held_blocks = sum(answer.get("held", {}).get("blocks", 0) for answer in usable)
    if held_blocks:
        result.bytes_per_block = held_bytes / held_blocks
    result.sites = merge_sites(usable, app_dir)
    result.types = merge_types(usable, app_dir)
    return result

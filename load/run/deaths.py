"""How a server the lab started, or one of its gunicorn workers, ended when nobody stopped it.

A crash in native code (a driver, a profiler's hooks) ends a process with a signal and no
traceback of its own: the report names the signal, and the probe's launcher has Python's fault
handler write the stack of each thread to the server's log (for SIGSEGV, SIGBUS, SIGFPE and
SIGILL; gunicorn resets SIGABRT in its workers). A worker that dies is replaced by gunicorn, so
its death is read from the arbiter's own log line.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from load.report import memray_capture

# gunicorn's arbiter, when it reaps a worker that ended by a signal or with an error code
# (gunicorn/arbiter.py, reap_workers; a test runs a real worker that crashes)
WORKER_SIGNALLED = re.compile(r"Worker \(pid:(\d+)\) was sent (\w+(?: \d+)?)!")
WORKER_EXITED = re.compile(r"Worker \(pid:(\d+)\) exited with code (\d+)")
# how the lab itself stops workers, and how gunicorn recycles them: not a death
STOPPED_BY_THE_LAB = {"SIGTERM", "SIGQUIT", "SIGINT"}


def how_it_ended(returncode: int | None) -> str:
    """A subprocess's return code in words: ``killed by SIGSEGV``, ``exit code 3``."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def server_died(who: str, ended: str, log: Path | str) -> str:
    """The line that says a server died, how, and where its log is."""
    return f"{who} died during the run ({ended}); see {log}"


def crashed_workers(log: str) -> list[str]:
    """Each worker gunicorn reaped after a crash or an error exit: ``worker 123 killed by
    SIGSEGV``, in the order of the log."""
    found = []
    for line in log.splitlines():
        if signalled := WORKER_SIGNALLED.search(line):
            pid, name = signalled.groups()
            if name not in STOPPED_BY_THE_LAB:
                found.append(f"worker {pid} killed by {name}")
        elif exited := WORKER_EXITED.search(line):
            found.append(f"worker {exited[1]} exit code {exited[2]}")
    return found


def died_notes(
    build: str, ended: str, workers: list[str], log: Path, *, under_memray: bool, greenlet: bool
) -> list[str]:
    """What the report says first of a build whose server (``ended``: how) or workers died:
    how, and where the log is; under memray, how to tell memray's own crash from the app's."""
    notes = []
    if ended:
        notes.append(server_died(f"the {build} server", ended, log))
    if workers:
        notes.append(f"{build}: {len(workers)} worker(s) died: {', '.join(workers)}; see {log}")
    if notes and under_memray:
        notes.append(memray_capture.died_under_memray(build, greenlet=greenlet))
    return notes

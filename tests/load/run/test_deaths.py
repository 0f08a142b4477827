"""A server or gunicorn worker that dies is named by how it ended, with its stack in its log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from load.report import memray_capture
from load.run.deaths import crashed_workers, died_notes, how_it_ended
from load.run.readiness import free_port
from load.run.servers import ASGI_WORKER, Children

APP = "async def app(scope, receive, send):\n    pass\n"
# the first worker crashes once it has booted, as a driver's native code would; the next is fine
CRASH_FIRST_WORKER = """\
import os, signal
from pathlib import Path

def post_worker_init(worker):
    flag = Path(__file__).with_name("crashed")
    if not flag.exists():
        flag.touch()
        os.kill(os.getpid(), signal.SIGSEGV)
"""
WAIT_S = 60.0


def launcher_env() -> dict[str, str]:
    """The lab's environment with nothing that turns the fault handler on by itself."""
    dropped = {"LEAKPROOF_PROBE_DIR", "PYTHONFAULTHANDLER", "PYTHONDEVMODE"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


def launched(folder: Path, *argv: str) -> list[str]:
    return [sys.executable, "-P", "-m", "load.probe", "--path", str(folder), *argv]


def test_a_server_that_crashes_leaves_its_stack_in_its_log_and_is_named_by_its_signal(
    tmp_path: Path,
) -> None:
    (tmp_path / "crashing.py").write_text(
        "import os, signal\n\ndef serve():\n    os.kill(os.getpid(), signal.SIGSEGV)\n\nserve()\n"
    )
    children = Children()
    try:
        child = children.start(
            "server", launched(tmp_path, "crashing"), launcher_env(), tmp_path / "server.log"
        )
        child.process.wait(WAIT_S)
    finally:
        children.stop_all()
    assert how_it_ended(child.process.returncode) == "killed by SIGSEGV"
    log = (tmp_path / "server.log").read_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert 'crashing.py", line 4 in serve' in log


def test_a_gunicorn_worker_that_crashes_is_named_from_the_arbiter_s_log(tmp_path: Path) -> None:
    """gunicorn replaces the worker, so only its log says one died: the lab reads that line
    (its wording is gunicorn's; this breaks if an upgrade changes it)."""
    (tmp_path / "crashapp.py").write_text(APP)
    (tmp_path / "crashconf.py").write_text(CRASH_FIRST_WORKER)
    command = launched(
        tmp_path, "gunicorn", "-c", str(tmp_path / "crashconf.py"), "crashapp:app",
        "--worker-class", ASGI_WORKER, "--workers", "1", "--no-control-socket",
        "--bind", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    log_path = tmp_path / "server.log"
    children = Children()
    try:
        children.start("server", command, launcher_env(), log_path, cwd=tmp_path)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not crashed_workers(log_path.read_text()):
            time.sleep(0.2)
    finally:
        children.stop_all()
    log = log_path.read_text()
    crashed = crashed_workers(log)
    assert len(crashed) == 1, log
    assert crashed[0].startswith("worker ")
    assert crashed[0].endswith(" killed by SIGSEGV")
    # the fault handler outlives gunicorn's fork and its reset of the worker's signals
    assert "Fatal Python error: Segmentation fault" in log
    assert 'crashconf.py", line 8 in post_worker_init' in log


def test_how_a_process_ended_in_words() -> None:
    assert how_it_ended(None) == "still running"
    assert how_it_ended(3) == "exit code 3"
    assert how_it_ended(-9) == "killed by SIGKILL"
    assert how_it_ended(-200) == "killed by signal 200"


def test_only_workers_that_crashed_or_failed_are_named() -> None:
    log = "\n".join(
        [
            "[INFO] Worker (pid:11) was sent SIGTERM!",  # stopped: the lab, or a recycle
            "[WARNING] Worker (pid:12) was sent SIGSEGV!",
            "[ERROR] Worker (pid:13) was sent SIGKILL! Perhaps out of memory?",
            "[WARNING] Worker (pid:14) was sent signal 200!",
            "[ERROR] Worker (pid:15) exited with code 1.",
            "[INFO] Booting worker with pid: 16",
        ]
    )
    assert crashed_workers(log) == [
        "worker 12 killed by SIGSEGV",
        "worker 13 killed by SIGKILL",
        "worker 14 killed by signal 200",
        "worker 15 exit code 1",
    ]


def test_the_notes_say_what_died_first_and_under_memray_how_to_tell_whose_crash() -> None:
    log = Path("out/server-fixed.log")
    assert died_notes("fixed", "", [], log, under_memray=True, greenlet=True) == []
    server = died_notes("fixed", "killed by SIGSEGV", [], log, under_memray=False, greenlet=True)
    assert server == [
        "the fixed server died during the run (killed by SIGSEGV); see out/server-fixed.log"
    ]
    workers = died_notes(
        "fixed", "", ["worker 12 killed by SIGSEGV"], log, under_memray=True, greenlet=False
    )
    assert workers[0] == (
        "fixed: 1 worker(s) died: worker 12 killed by SIGSEGV; see out/server-fixed.log"
    )
    assert workers[1] == (
        "the fixed server ran under memray: run it again without --memray to tell a crash of "
        "memray's from the app's"
    )
    with_greenlet = died_notes("fixed", "exit code 1", [], log, under_memray=True, greenlet=True)
    assert "support for greenlet" in with_greenlet[1]


def test_memray_s_greenlet_banner_is_what_the_lab_looks_for(tmp_path: Path) -> None:
    """memray's own words when the app imports greenlet: the lab reads them in the log."""
    result = subprocess.run(
        [sys.executable, "-m", "memray", "run", "--quiet", "--force",
         "-o", str(tmp_path / "capture.bin"), "-c", "import greenlet"],
        capture_output=True, text=True, timeout=WAIT_S, check=True,
    )  # fmt: skip
    assert memray_capture.GREENLET_BANNER in result.stdout + result.stderr

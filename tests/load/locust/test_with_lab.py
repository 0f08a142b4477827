"""A locustfile of one's own under the lab: locust loads it with load/locust/with_lab.py, and the
lab's hooks (progress file, request bound, warm-up shape) apply without the file importing them,
once each even when it does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from load.run.config import LabConfig
from load.run.locust_process import LAB_HOOKS_FILE, locust_command, locust_env, read_progress
from load.run.target import ROOT

OWN_LOCUSTFILE = """\
import os

from locust import FastHttpUser, constant, events, task
{extra}
SEEN = [0]


class Writer(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def post(self) -> None:
        self.client.post("/notes", json={{"note": "x"}})


@events.request.add_listener
def seen(**_kwargs):
    SEEN[0] += 1


@events.quitting.add_listener
def tell(**_kwargs):
    with open(os.environ["OWN_COUNT"], "w") as count:
        count.write(str(SEEN[0]))
"""
LOAD = """
import json, sys
from locust.util.load_locustfile import load_locustfile
found = [load_locustfile(path) for path in sys.argv[1:]]
print(json.dumps([sorted(u for users, _ in found for u in users),
                  [type(s).__name__ for _, shapes in found for s in shapes]]))
"""


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    answering = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    answering.daemon_threads = True
    thread = threading.Thread(target=answering.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{answering.server_address[1]}"
    answering.shutdown()
    answering.server_close()


def test_the_lab_s_shape_comes_beside_a_locustfile_of_one_s_own(tmp_path: Path) -> None:
    own = tmp_path / "locustfile.py"
    own.write_text(OWN_LOCUSTFILE.format(extra=""))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAKPROOF_")}
    result = subprocess.run(
        [sys.executable, "-c", LOAD, str(own), str(LAB_HOOKS_FILE)],
        env={**env, "LEAKPROOF_LAB_WARMUP_S": "5"}, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(result.stdout.splitlines()[-1]) == [["Writer"], ["WarmupThenSteady"]]


@pytest.mark.parametrize(
    "extra", ["", "from load.locust import lab_hooks  # imported by the file as well"]
)
def test_progress_and_the_request_bound_count_each_request_once(
    server: str, tmp_path: Path, extra: str
) -> None:
    own = tmp_path / "locustfile.py"
    own.write_text(OWN_LOCUSTFILE.format(extra=extra))
    config = LabConfig(users=2, requests=200, warmup_s=1.0, duration_s=30.0)
    progress, stop = tmp_path / "progress.txt", tmp_path / "stop"
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAKPROOF_")}
    env.update(locust_env(config, progress, stop), OWN_COUNT=str(tmp_path / "own-count"))
    command = locust_command(config, server, tmp_path / "locust", (own, LAB_HOOKS_FILE))
    subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, timeout=120, check=True
    )  # the bound stops it long before --run-time
    counted = read_progress(progress)[-1][1]
    assert counted >= 200
    # the lab counted what the file's own listener saw: each request once, not twice
    assert counted == int((tmp_path / "own-count").read_text())

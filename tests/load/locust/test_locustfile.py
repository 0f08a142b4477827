"""What locust finds in the locustfile: every user, and the warm-up shape only under the lab.
Loaded in a subprocess, as locust does: locust monkey-patches the process that imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOAD = """
import json
from locust.util.load_locustfile import load_locustfile
users, shapes = load_locustfile("load/locust/locustfile.py")
print(json.dumps([sorted(users), [type(shape).__name__ for shape in shapes]]))
"""
USERS = ["Aborter", "Exporter", "JobRunner", "Notifier", "Probe", "Shopper", "SlowReader"]


def found(**env: str) -> list[list[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAKPROOF_LAB_")}
    result = subprocess.run(
        [sys.executable, "-c", LOAD], env={**environment, **env},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answer: list[list[str]] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_the_lab_gets_every_user_and_the_warm_up_shape() -> None:
    assert found(LEAKPROOF_LAB_WARMUP_S="5") == [USERS, ["WarmupThenSteady"]]


def test_the_web_ui_keeps_locust_s_own_controls() -> None:
    assert found() == [USERS, []]

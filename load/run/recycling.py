"""The lab's side of recycling by memory: the server settings a ``--max-memory`` run gets, which
worker was recycled why, and what the verdict says about it.

``--max-memory MB`` gives each gunicorn worker that budget; ``--max-memory auto`` derives it from
a container limit (``--memory-limit MB``), written where the server's cgroup root setting points,
since the lab's own machine need not run under one. The reasons per worker come from the server
log (a memory recycle is logged as a warning by the worker), the counts from /metrics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from load.run.config import LabConfig

MB = 1024 * 1024
MEMORY_RECYCLE = re.compile(r"worker (\d+) recycled by memory")


def memory_env(config: LabConfig) -> dict[str, str]:
    """The LEAKPROOF_* settings of a run's memory budget (none without ``--max-memory``)."""
    if config.max_memory is None:
        return {}
    env = {"LEAKPROOF_MAX_WORKER_MEMORY_MB": str(config.max_memory)}
    if config.max_memory == "auto" and config.memory_limit_mb is not None:
        root = (config.out / "cgroup").resolve()
        root.mkdir(parents=True, exist_ok=True)
        (root / "memory.max").write_text(f"{config.memory_limit_mb * MB}\n")
        env["LEAKPROOF_CGROUP_ROOT"] = str(root)
    return env


def budget_text(config: LabConfig) -> str | None:
    """The budget as the report says it: ``150 MB``, or ``auto under a 400 MB limit``."""
    if config.max_memory is None:
        return None
    if config.max_memory == "auto":
        return f"auto under a {config.memory_limit_mb} MB limit"
    return f"{config.max_memory} MB"


def recycles_by_requests(config: LabConfig) -> bool:
    """Whether the run's gunicorn recycles after max_requests: the option's value, or the
    settings' (on by default) unless --max-memory alone decides."""
    if config.max_requests is not None:
        return config.max_requests > 0
    return config.max_memory is None


def recycled_by_memory(server_log: Path) -> set[int]:
    """The pids of the workers that logged a recycle by memory."""
    try:
        text = server_log.read_text(errors="replace")
    except OSError:
        return set()
    return {int(pid) for pid in MEMORY_RECYCLE.findall(text)}


def recycle_reasons(
    lives: dict[int, tuple[float, float]], end: float, server_log: Path, max_requests: bool
) -> dict[int, str]:
    """Why each worker life (pid: (first seen, last seen)) that ended before ``end`` ended:
    memory (the worker logged it), requests (when max_requests was on), or ended."""
    memory = recycled_by_memory(server_log)
    reasons = {}
    for pid, (_, last) in lives.items():
        if pid in memory:
            reasons[pid] = "memory"
        elif last < end:
            reasons[pid] = "requests" if max_requests else "ended"
    return reasons


class Judged(Protocol):
    def pass_(self, reason: str) -> None: ...
    def fail(self, reason: str) -> None: ...


def judge_recycling(verdict: Judged, builds: dict[str, dict[str, Any]]) -> None:
    """Under a memory budget: the twin's recycles by memory bounded a leak, and the fixed build
    (a flat build) needed none; a fixed build recycled by memory fails."""
    for name, build in builds.items():
        budget = build.get("memory_budget")
        if budget is None:
            continue
        recycles = build.get("memory_recycles") or 0
        failed = f"{build.get('failures') or 0} failed requests"
        if recycles and name == "fixed":
            verdict.fail(
                f"{name}: {recycles} workers recycled by memory: a flat build reached its "
                f"budget ({budget}); is it below a warm worker? see workers.png"
            )
        elif recycles:
            verdict.pass_(
                f"{name}: recycling by memory bounded a leak: {recycles} workers recycled past "
                f"their budget ({budget}), {failed} (the saw tooth in workers.png)"
            )
        else:
            verdict.pass_(f"{name}: no recycle was needed: no worker reached its budget ({budget})")

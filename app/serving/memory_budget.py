"""A worker's memory budget: its own RSS, read cheaply, against a limit set in MB or derived
from the container's memory limit (``auto``).

gunicorn's ``max_requests`` recycles a worker after N requests whatever it holds; a budget
recycles it on what it holds, through the same drain (app/serving/worker.py), before the
kernel's OOM killer would SIGKILL it with requests in flight. Each worker adds a random jitter
of its own to the budget, so workers that grow alike do not all drain at once.
"""

from __future__ import annotations

import logging
import os
import random
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from app.settings import ENV_PREFIX, MIN_WORKER_MEMORY_MB, Settings

MB = 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# each worker's budget is raised by up to this share, drawn once per worker
JITTER_SHARE = 0.05
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit number; anything this big is it
V1_UNLIMITED = 1 << 60
PROC_STATM = Path("/proc/self/statm")
PROC_CGROUP = Path("/proc/self/cgroup")

logger = logging.getLogger(__name__)


class BudgetError(ValueError):
    """``auto`` cannot give each worker a budget above an idle worker's memory."""


def rss_bytes(statm: Path = PROC_STATM) -> int:
    """This process's resident memory: the second field of statm, in pages (a few µs)."""
    return int(statm.read_bytes().split()[1]) * PAGE_BYTES


def own_cgroups(proc_cgroup: Path = PROC_CGROUP) -> tuple[str | None, str | None]:
    """(the cgroup v2 path, the cgroup v1 memory controller's path) of this process."""
    unified = memory = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            unified = path
        elif "memory" in controllers.split(","):
            memory = path
    return unified, memory


def _read_limit(file: Path) -> int | None:
    try:
        text = file.read_text().strip()
    except OSError:
        return None
    if text == "max" or not text.isdigit() or int(text) >= V1_UNLIMITED:
        return None
    return int(text)


def _folders(base: Path, path: str | None) -> list[Path]:
    """``base/path`` and each of its parents up to ``base``: a limit on any of them applies."""
    folder = base.joinpath(*[part for part in (path or "/").split("/") if part])
    return [folder, *[p for p in folder.parents if p == base or base in p.parents]]


def container_memory_limit(root: Path, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """The tightest memory limit (bytes) over this process's cgroup and its ancestors under
    ``root``, from cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; None: no limit."""
    unified, memory = own_cgroups(proc_cgroup)
    files = [folder / "memory.max" for folder in _folders(root, unified)]
    files += [folder / "memory.limit_in_bytes" for folder in _folders(root / "memory", memory)]
    limits = [limit for file in files if (limit := _read_limit(file)) is not None]
    return min(limits) if limits else None


def auto_budget_bytes(
    limit_bytes: int, *, workers: int, headroom: float, reserved_bytes: int
) -> int:
    """Each worker's budget under a container limit: the limit less its headroom (what workers
    may still grow while one drains) and what the arbiter holds, shared by the workers, each
    of which may add its jitter."""
    usable = limit_bytes * (1 - headroom) - reserved_bytes
    return int(usable / (workers * (1 + JITTER_SHARE)))


@dataclass(frozen=True)
class MemoryBudget:
    bytes: int  # per worker, before its jitter
    source: str  # how it was chosen, for the start-up log line

    def jittered(self, rng: random.Random | None = None) -> int:
        """One worker's limit: the budget plus up to JITTER_SHARE of it."""
        return int(self.bytes * (1 + (rng or random).uniform(0, JITTER_SHARE)))


def memory_budget(settings: Settings, *, workers: int, reserved_bytes: int) -> MemoryBudget | None:
    """The per-worker budget the settings ask for; None when recycling by memory is off, or
    ``auto`` finds no container limit (logged). Raises BudgetError when ``auto``'s share is
    smaller than an idle worker."""
    chosen = settings.max_worker_memory_mb
    if chosen is None:
        return None
    if chosen != "auto":
        return MemoryBudget(chosen * MB, f"{ENV_PREFIX}MAX_WORKER_MEMORY_MB={chosen}")
    limit = container_memory_limit(settings.cgroup_root)
    if limit is None:
        logger.warning(
            "%sMAX_WORKER_MEMORY_MB=auto found no memory limit under %s: recycling by memory is "
            "off; set a number of MB, or run under a container limit",
            ENV_PREFIX,
            settings.cgroup_root,
        )
        return None
    budget = auto_budget_bytes(
        limit,
        workers=workers,
        headroom=settings.worker_memory_headroom,
        reserved_bytes=reserved_bytes,
    )
    if budget < MIN_WORKER_MEMORY_MB * MB:
        raise BudgetError(
            f"{ENV_PREFIX}MAX_WORKER_MEMORY_MB=auto: the container's limit of {limit / MB:.0f} MB "
            f"gives each of {workers} workers {budget / MB:.0f} MB, less than an idle worker "
            f"needs ({MIN_WORKER_MEMORY_MB} MB): raise the limit, lower {ENV_PREFIX}WORKERS or "
            f"{ENV_PREFIX}WORKER_MEMORY_HEADROOM"
        )
    source = (
        f"auto: container limit {limit / MB:.0f} MB, {settings.worker_memory_headroom:.0%} "
        f"headroom, arbiter {reserved_bytes / MB:.0f} MB, {workers} workers"
    )
    return MemoryBudget(budget, source)


def growing_sites(baseline: tracemalloc.Snapshot | None, top: int = 3) -> list[str]:
    """The lines whose allocations grew most since ``baseline`` (empty when not tracing)."""
    if baseline is None or not tracemalloc.is_tracing():
        return []
    changes = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
    return [
        f"{change.traceback[0].filename}:{change.traceback[0].lineno} "
        f"+{change.size_diff / MB:.1f} MB (+{change.count_diff} blocks)"
        for change in changes[:top]
        if change.size_diff > 0
    ]

"""What a build says about itself: its /metrics gauges (asyncio tasks per worker, the pool,
recycles) and each worker's /debug/stats, the latest of each, summed over the workers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

METRIC_LINE = re.compile(r"^(?P<name>\w+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
PID_LABEL = re.compile(r'pid="(\d+)"')
REASON_LABEL = re.compile(r'reason="(\w+)"')


@dataclass
class Inside:
    """The latest /debug/stats answer per worker pid, and the latest /metrics gauges."""

    latest: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[int, float] = field(default_factory=dict)  # leakproof_asyncio_tasks per pid
    pool_checked_out: float | None = None  # leakproof_db_pool_checked_out, all workers
    recycles: dict[str, float] = field(default_factory=dict)  # by reason: requests, memory
    answered: int = 0
    failed: int = 0

    def read_metrics(self, text: str, single_pid: int | None) -> None:
        """Take the gauges from a Prometheus text page (a lone process has no pid label)."""
        for line in text.splitlines():
            match = METRIC_LINE.match(line)
            if match is None:
                continue
            try:
                value = float(match["value"])
            except ValueError:
                continue
            pid_label = PID_LABEL.search(match["labels"] or "")
            pid = int(pid_label[1]) if pid_label else single_pid
            if match["name"] == "leakproof_asyncio_tasks" and pid is not None:
                self.tasks[pid] = value
            elif match["name"] == "leakproof_db_pool_checked_out":
                self.pool_checked_out = value
            elif match["name"] == "leakproof_worker_recycles_total":
                reason = REASON_LABEL.search(match["labels"] or "")
                if reason is not None:
                    self.recycles[reason[1]] = value

    def tasks_total(self, pids: list[int]) -> float | None:
        counted = [self.tasks[pid] for pid in pids if pid in self.tasks]
        return sum(counted) if counted else self.total(pids, "asyncio_tasks")

    def pool_total(self, pids: list[int]) -> float | None:
        if self.pool_checked_out is not None:
            return self.pool_checked_out
        return self.total(pids, "pool", "checked_out")

    def total(self, pids: list[int], key: str, sub: str | None = None) -> float | None:
        values = []
        for pid in pids:
            stats = self.latest.get(pid)
            value = stats.get(key) if stats else None
            if sub is not None and isinstance(value, dict):
                value = value.get(sub)
            if isinstance(value, int | float):
                values.append(float(value))
        return sum(values) if values else None

"""A page of Prometheus text, read with prometheus_client's own parser: what a service the lab
did not start tells about itself.

The names the lab reads: the process collector's (``process_resident_memory_bytes``,
``process_open_fds``, ``process_start_time_seconds``), the gc collector's
(``python_gc_objects_uncollectable_total``), and this template's gauges (app/ops/metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

PROCESS_RSS = "process_resident_memory_bytes"
PROCESS_FDS = "process_open_fds"
PROCESS_STARTED = "process_start_time_seconds"
GC_UNCOLLECTABLE = "python_gc_objects_uncollectable_total"
# this template's gauges (app/ops/metrics.py); under gunicorn, in prometheus multiprocess mode,
# the per-worker ones carry a pid label
WORKER_RSS = "leakproof_worker_rss_bytes"
ASYNCIO_TASKS = "leakproof_asyncio_tasks"
POOL_CHECKED_OUT = "leakproof_db_pool_checked_out"
MEMORY_GAUGES = (PROCESS_RSS, WORKER_RSS)

Labels = dict[str, str]


@dataclass(frozen=True)
class Scrape:
    """Every sample of one page: name -> [(labels, value)]."""

    samples: dict[str, list[tuple[Labels, float]]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.samples

    def first(self, name: str) -> float | None:
        values = self.samples.get(name)
        return values[0][1] if values else None

    def total(self, name: str) -> float | None:
        """The sum over every label set (a gauge per worker adds up to the service's)."""
        values = self.samples.get(name)
        return sum(value for _, value in values) if values else None

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """The values that carry ``label``, by its value (``pid`` in multiprocess mode)."""
        return {
            labels[label]: value for labels, value in self.samples.get(name, []) if label in labels
        }


def parse(text: str) -> Scrape:
    """The page's samples; ValueError when it is not Prometheus text or holds none (an HTML
    error page, JSON, an empty answer)."""
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    if not samples:
        raise ValueError("no metric in it")
    return Scrape(samples)

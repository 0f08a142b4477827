"""Reading what the locust subprocess leaves behind: its progress lines and its CSV statistics.

locust itself is never imported here (it monkey-patches the whole process with gevent).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

Progress = list[tuple[float, int, int]]  # (unix time, requests so far, failures so far)


@dataclass
class LoadStats:
    requests: int = 0
    failures: int = 0
    requests_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    # the most frequent errors: (request name, error, occurrences)
    top_failures: list[tuple[str, str, int]] = field(default_factory=list)


def read_progress(path: Path) -> Progress:
    """The progress file's lines; a torn last line (the writer was stopped) is skipped."""
    if not path.exists():
        return []
    points: Progress = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            points.append((float(parts[0]), int(parts[1]), int(parts[2])))
        except ValueError:
            continue
    return points


def read_stats(prefix: Path) -> LoadStats:
    """The Aggregated row of ``<prefix>_stats.csv`` and the top rows of ``_failures.csv``."""
    stats = LoadStats()
    stats_file = prefix.with_name(prefix.name + "_stats.csv")
    if stats_file.exists():
        with stats_file.open(newline="") as rows:
            for row in csv.DictReader(rows):
                if row.get("Name") == "Aggregated":
                    stats.requests = int(row["Request Count"])
                    stats.failures = int(row["Failure Count"])
                    stats.requests_per_s = float(row["Requests/s"])
                    stats.p50_ms = _number(row.get("50%"))
                    stats.p99_ms = _number(row.get("99%"))
    failures_file = prefix.with_name(prefix.name + "_failures.csv")
    if failures_file.exists():
        with failures_file.open(newline="") as rows:
            found = [
                (row["Name"], row["Error"], int(row["Occurrences"])) for row in csv.DictReader(rows)
            ]
        stats.top_failures = sorted(found, key=lambda failure: -failure[2])[:8]
    return stats


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None

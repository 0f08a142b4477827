"""The terminal: a live line per build while it runs, and the table and verdict at the end.

On a terminal the progress redraws in place (rich); in CI (no terminal) it prints a plain
line every few seconds instead, so the log shows the run advancing.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live as RichLive
from rich.table import Table
from rich.text import Text

from load.report.report import TABLE_ROWS, cell
from load.run.build_run import Live

PLAIN_EVERY_S = 5.0


class Progress:
    def __init__(self, console: Console, duration_s: float) -> None:
        self.console = console
        self.duration_s = duration_s
        self._live: RichLive | None = None
        self._last_plain = 0.0

    def line(self, live: Live) -> Text:
        sample = live.sample
        rss = f"{sample.rss_mb:7.1f} MB" if sample else "      - MB"
        connections = sample.db_connections if sample and sample.db_connections is not None else "-"
        tasks = sample.tasks if sample and sample.tasks is not None else "-"
        return Text(
            f"{live.build:>6}  {live.elapsed_s:5.1f}/{self.duration_s:g} s  "
            f"{live.requests:8,} requests  {live.failures:6,} failed  RSS {rss}  "
            f"db conns {connections}  tasks {tasks}"
        )

    def show(self, live: Live) -> None:
        if self.console.is_terminal:
            if self._live is None:
                self._live = RichLive(self.line(live), console=self.console, refresh_per_second=4)
                self._live.start()
            self._live.update(self.line(live))
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self.console.print(self.line(live))

    def done(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._last_plain = 0.0


def print_result(console: Console, summary: dict[str, Any], out: str) -> None:
    builds = summary["builds"]
    table = Table(title=f"leakproof {summary['mode']}", title_justify="left")
    table.add_column("")
    for name in builds:
        table.add_column(name, justify="right")
    for key, title in TABLE_ROWS:
        table.add_row(title, *(cell(build.get(key)) for build in builds.values()))
    console.print(table)
    console.print(f"[dim]{summary['settings']['shared_cpus_note']}[/dim]")
    verdict = summary["verdict"]
    for reason in verdict["reasons"]:
        console.print(f"  - {reason}", highlight=False)
    outcome = verdict.get("outcome", "PASS" if verdict["ok"] else "FAIL")
    colour = {"PASS": "green", "FAIL": "red"}.get(outcome, "yellow")
    status = f"[bold {colour}]{outcome}[/]"
    console.print(
        f"{status} {verdict['reasons'][0] if verdict['reasons'] else ''}", highlight=False
    )
    console.print(f"report: {out}/report.html (and report.md, summary.json, samples.csv)")

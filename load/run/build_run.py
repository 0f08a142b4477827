"""What one build's run is made of, while it runs (``Live``) and once it is done (``BuildRun``):
the judge reads these and the report writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load.judge.kinds import Judgement
from load.probe.attribution import Attribution, HeapPoint
from load.run.locust_process import LoadStats, Progress
from load.run.sampling import Sample
from load.run.target import Target


@dataclass
class Live:
    """What the progress display shows while a build runs."""

    build: str
    elapsed_s: float = 0.0
    requests: int = 0
    failures: int = 0
    sample: Sample | None = None

    def update(self, progress: Progress, samples: list[Sample]) -> None:
        """The load so far (from locust's progress lines) and the latest sample."""
        if progress:
            self.elapsed_s = progress[-1][0] - progress[0][0]
            self.requests, self.failures = progress[-1][1], progress[-1][2]
        self.sample = samples[-1] if samples else None


@dataclass
class BuildRun:
    target: Target  # what was served, and how the report names it
    samples: list[Sample]  # from the start of the load
    progress: Progress
    load: LoadStats
    worker_restarts: int
    growth: dict[str, Any]
    load_seconds: float
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step of the run
    server_died: bool = False
    server_ended: str = ""  # how a server that died ended: "killed by SIGSEGV", "exit code 1"
    heap: list[HeapPoint] = field(default_factory=list)
    attribution: Attribution | None = None  # None: the probe was off
    extensions: list[str] = field(default_factory=list)  # why the load ran past --duration
    recycles: dict[str, int] = field(default_factory=dict)  # by reason, from /metrics
    flamegraphs: list[Path] = field(default_factory=list)  # --memray: one per process
    window_opened_at: float | None = None  # unix time the tracing window opened
    # what stopped the load: the report keeps it, so a verdict is the one the run acted on
    judgement: Judgement | None = None
    threads_before_load: int | None = None  # the server's fewest threads before the load

    @property
    def build(self) -> str:
        return self.target.name

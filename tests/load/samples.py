"""Synthetic samples for the lab's unit tests: a build whose numbers follow a given rule."""

from __future__ import annotations

from collections.abc import Callable

from load.run.sampling import Sample


def series(
    count: int,
    *,
    rss: Callable[[int], float],
    requests_per_sample: float = 100.0,
    warmup: int = 0,
    pids: Callable[[int], list[int]] = lambda _i: [1000],
    tasks: Callable[[int], int | None] = lambda _i: 10,
    db_connections: Callable[[int], int | None] = lambda _i: 5,
) -> list[Sample]:
    """``count`` samples a quarter second apart; ``rss(i)`` is each worker's RSS at sample i."""
    samples = []
    for i in range(count):
        workers = {pid: rss(i) for pid in pids(i)}
        samples.append(
            Sample(
                ts=1_000.0 + i * 0.25,
                phase="warmup" if i < warmup else "measure",
                rss_mb=sum(workers.values()),
                uss_mb=sum(workers.values()) * 0.8,
                fds=40,
                threads=8,
                worker_anon_mb=workers,
                db_connections=db_connections(i),
                pool_checked_out=3,
                tasks=tasks(i),
                heap_mb=None,
                gc_objects=None,
                requests=i * requests_per_sample,
            )
        )
    return samples

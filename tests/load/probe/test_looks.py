"""Two looks at a window's end: a transient held at one of them is not growth."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from load.probe.looks import held_at_both

KEPT: list[str] = []


def keep(count: int) -> None:
    KEPT.extend(f"kept {n:06d}" * 3 for n in range(count))  # the leak's line


def in_flight(count: int) -> list[str]:
    return [f"transient {n:06d}" * 3 for n in range(count)]  # a request's rows, held a moment


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start(1)
    try:
        yield
    finally:
        tracemalloc.stop()
        KEPT.clear()


def by_line(snapshot: tracemalloc.Snapshot) -> list[tracemalloc.Statistic]:
    return snapshot.filter_traces([tracemalloc.Filter(True, __file__)]).statistics("traceback")


def lines_of(function: object) -> set[int]:
    code = function.__code__  # type: ignore[attr-defined]
    return {line for _, _, line in code.co_lines() if line is not None}


@pytest.mark.usefixtures("tracing")
def test_what_both_looks_hold_is_kept_and_a_transient_of_one_look_is_not() -> None:
    keep(500)
    rows = in_flight(3000)  # larger than the leak, at the first look only
    first = by_line(tracemalloc.take_snapshot())
    del rows
    keep(500)  # the leak grew between the looks: the smaller look counts
    second = by_line(tracemalloc.take_snapshot())
    held = held_at_both(first, second)
    where = {item.traceback[0].lineno: item for item in held}
    transient_lines = lines_of(in_flight)
    kept_lines = lines_of(keep)
    assert not transient_lines & where.keys()  # the rows were gone at the second look
    kept = [item for line, item in where.items() if line in kept_lines]
    assert len(kept) == 1
    assert kept[0].count >= 500
    assert kept[0].count < 1000  # the lesser look: what the first already held
    assert held[0] is kept[0]  # largest first
    # with the rows still held at the second look, they count (and outweigh the leak)
    rows = in_flight(3000)
    again = by_line(tracemalloc.take_snapshot())
    assert transient_lines & {item.traceback[0].lineno for item in held_at_both(again, again)}
    del rows

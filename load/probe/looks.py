"""What a window still holds at two looks, a moment apart: its growth without what passed through.

One snapshot at a window's end also holds whatever is passing through at that instant: a request
past the lab's wait, a job, a stream whose client has gone, the rows of an export being encoded.
A transient like that can outweigh a small leak's line, and which one comes first is then a
matter of when the snapshot fell. A second look a moment later rarely finds the same transient,
while a leak's line holds at least as much as before: per traceback, the lesser look is kept.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass


@dataclass(frozen=True)
class Held:
    """What one traceback held at both looks: the lesser size and count of the two."""

    traceback: tracemalloc.Traceback
    size: int
    count: int


def held_at_both(
    first: list[tracemalloc.Statistic], second: list[tracemalloc.Statistic]
) -> list[Held]:
    """Per traceback (statistics grouped by "traceback"), the lesser of the two looks; a
    traceback absent from either look held nothing at one of them. Largest first."""
    later = {stat.traceback: stat for stat in second}
    held = [
        Held(stat.traceback, min(stat.size, again.size), min(stat.count, again.count))
        for stat in first
        if (again := later.get(stat.traceback)) is not None
    ]
    return sorted(held, key=lambda item: (-item.size, -item.count))

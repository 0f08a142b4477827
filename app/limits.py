"""A counted, non-blocking concurrency limit: take a slot now or be told there is none."""

from __future__ import annotations


class Slots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def try_acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        if self.in_use <= 0:
            raise RuntimeError("Slots.release() called more often than try_acquire()")
        self.in_use -= 1

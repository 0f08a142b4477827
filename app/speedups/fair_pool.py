"""A pool that hands idle connections to waiting requests strictly in arrival order, and keeps
the overflow connections of a burst while bursts keep coming.

Passed to ``app.db.create_engine`` as its ``poolclass``; everything else about the pool (size,
overflow limit, timeout, recycling) stays SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from sqlalchemy.pool import ConnectionPoolEntry

from app.speedups._sqlalchemy import AsyncAdaptedQueue, Empty, Full, await_, pool_with_queue

# how long the overflow connections of a burst stay open after the pool last ran short
OVERFLOW_LINGER_S = 10.0


class FirstComeFirstServedQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's idle connections, handed to waiting requests strictly in arrival order.

    SQLAlchemy's asyncio queue lets a newly arriving request take a just-returned connection
    before the request that was woken for it runs ("barging"), and the loser queues again at the
    back. At saturation a few requests lose lap after lap: throughput is unchanged, the tail
    latency is not (docs/bench.md). Here a returned connection goes straight to the oldest
    waiter, and nobody takes an idle one while others wait.

    SQLAlchemy closes an overflow connection the moment it comes back to a pool whose idle
    slots are full. An event loop answers in batches, so with about as many requests as
    connections the demand swings between all of them and few many times a second: each swing
    closed the overflow connections and the next opened them again (81 new connections in 6 s
    at 16 requests in flight), and each request that waited for one paid PostgreSQL's
    connection start-up (docs/bench.md). Here a connection beyond the pool's size is kept idle
    (a spare) while the pool ran short of idle connections within ``OVERFLOW_LINGER_S``; past
    that, one that comes back is closed as before. The pool still never holds more than its
    size plus its overflow.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[ConnectionPoolEntry]] = deque()
        self._spares: deque[ConnectionPoolEntry] = deque()
        self._short_at = -OVERFLOW_LINGER_S  # the last time a request found no idle connection

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        try:
            super().put_nowait(item)
        except Full:
            if time.monotonic() - self._short_at >= OVERFLOW_LINGER_S:
                raise  # the pool closes it: no burst for a while
            self._spares.append(item)

    def get_nowait(self) -> ConnectionPoolEntry:
        # spares first: one that is used and comes back after the bursts ended gets closed
        if self._spares:
            return self._spares.pop()
        try:
            return super().get_nowait()
        except Empty:
            self._short_at = time.monotonic()
            raise

    def empty(self) -> bool:
        return not self._spares and super().empty()

    def qsize(self) -> int:
        # what the pool counts as checked in (and so out): the spares are idle connections too
        idle: int = super().qsize()  # type: ignore[no-untyped-call]  # untyped upstream
        return len(self._spares) + idle

    def put(
        self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None
    ) -> None:
        self.put_nowait(item)  # never full while someone waits, so never a reason to block

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not self._waiters or not block:
            try:
                return self.get_nowait()
            except Empty:
                if not block:
                    raise
        return await_(self._wait(timeout))

    async def _wait(self, patience_s: float | None) -> ConnectionPoolEntry:
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._short_at = time.monotonic()
        self._waiters.append(waiter)  # a waiter that gives up stays; put_nowait skips it
        try:
            async with asyncio.timeout(patience_s):
                return await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # handed over as the time ran out: use it
            raise Empty() from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # cancelled after the handover: pass it on
            raise


FirstComeFirstServedPool = pool_with_queue("FirstComeFirstServedPool", FirstComeFirstServedQueue)


# SQLAlchemy names a pool's logger after its class's module, which puts this one under "app"
# and its level: at debug it would log every checkout on the hot path. Pool events are
# SQLAlchemy's, so they keep SQLAlchemy's quiet default.
logging.getLogger(f"{__name__}.{FirstComeFirstServedPool.__name__}").setLevel(logging.WARNING)

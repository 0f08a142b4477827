"""A pool that hands idle connections to waiting requests strictly in arrival order.

Passed to ``app.db.create_engine`` as its ``poolclass``; everything else about the pool (size,
overflow, timeout, recycling) stays SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from sqlalchemy.pool import ConnectionPoolEntry

from app.speedups._sqlalchemy import AsyncAdaptedQueue, Empty, await_, pool_with_queue


class FirstComeFirstServedQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The pool's idle connections, handed to waiting requests strictly in arrival order.

    SQLAlchemy's asyncio queue lets a newly arriving request take a just-returned connection
    before the request that was woken for it runs ("barging"), and the loser queues again at the
    back. At saturation a few requests lose lap after lap: throughput is unchanged, the tail
    latency is not (docs/bench.md). Here a returned connection goes straight to the oldest
    waiter, and nobody takes an idle one while others wait.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[ConnectionPoolEntry]] = deque()

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

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

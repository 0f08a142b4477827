"""The admission limit: at most so many requests run in a worker at once, more wait their turn
in arrival order, and past a bounded queue a request gets 503 with Retry-After at once; one that
waited as long as it would wait for a database connection gets the same answer.

Why a worker needs one: its event loop accepts every connection and starts every request it
reads. Past saturation each extra request in flight only waits (for a database connection,
mostly) while holding its whole state: the routing and dependencies already solved, a session or
a pool waiter, a timer. That state is memory a worker holds for nothing, and objects the cyclic
collector scans again and again. A request that waits here holds only what the server read.

The limit is sized from the database pool (``Settings.active_request_limit``): one request per
connection the pool can hand out. A second one per connection only waited at the pool instead,
where its wait costs more (its solved dependencies, a pool waiter and its timer). A request
waits for its turn at most the pool's timeout, as it would for a connection, so an overloaded
worker answers 503 rather than hang. Health probes and /metrics never wait: an overloaded
worker must still say it is alive and be measured.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import RETRY_AFTER_S

# paths that never wait for a turn: the probes an orchestrator relies on, and the scrape
EXEMPT_PREFIXES = ("/health/", "/metrics")
SHED_DETAIL = "the server is busy: too many requests are waiting; retry shortly"


class Turns:
    """Counts the requests running and queues the ones waiting, first come, first served.

    A finishing request hands its turn straight to the oldest waiter, so a newcomer never
    overtakes the queue. A waiter that gives up (its task was cancelled) leaves its entry behind,
    which the next handover skips.
    """

    def __init__(self, max_active: int, max_queued: int, patience_s: float | None = None) -> None:
        self.max_active = max_active
        self.max_queued = max_queued
        self.patience_s = patience_s  # the longest wait for a turn (None: no limit)
        self.active = 0
        self.shed = 0  # requests refused since start
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(not turn.done() for turn in self._waiting)

    async def acquire(self) -> bool:
        """Wait for a turn; False when the queue is full or the wait outlasted ``patience_s``
        (the caller answers 503)."""
        if self.active < self.max_active and not self._waiting:
            self.active += 1
            return True
        while self._waiting and self._waiting[0].done():
            self._waiting.popleft()  # waiters that gave up, at the head: not in the count
        if len(self._waiting) >= self.max_queued:
            self.shed += 1
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(self.patience_s):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                return True  # handed over as the time ran out: use it
            turn.cancel()  # the next handover skips it
            self.shed += 1
            return False
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed a turn as it was cancelled: pass it on
            raise
        return True  # the turn was handed over: ``active`` already counts it

    def release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.active -= 1


class AdmissionLimit:
    """ASGI middleware running every HTTP request, but the exempt paths, through ``Turns``."""

    def __init__(self, app: ASGIApp, turns: Turns) -> None:
        self.app = app
        self.turns = turns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if not await self.turns.acquire():
            resources = scope.get("state", {}).get("resources")
            if resources is not None:
                resources.request_metrics.count_shed()
            response = JSONResponse(
                {"detail": SHED_DETAIL}, status_code=503, headers={"Retry-After": RETRY_AFTER_S}
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.turns.release()

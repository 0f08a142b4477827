"""A bounded asyncio load for fault tests: a few concurrent clients on loopback, for a fixed
time or count, recording every request's outcome and the id of every acknowledged write."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

REQUEST_TIMEOUT_S = 10.0
REFUSED_BACKOFF_S = 0.05


@dataclass(frozen=True)
class Outcome:
    method: str
    path: str
    started: float
    ended: float
    status: int | None  # None: no response (the error says why)
    error: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    # names of writes that got no answer at all: they must not have been applied either
    unanswered_names: list[str] = field(default_factory=list)

    def statuses(self) -> Counter[int | str]:
        return Counter(o.status if o.status is not None else str(o.error) for o in self.outcomes)

    def failed(self) -> list[Outcome]:
        """Answers a client cannot use: 5xx, no answer at all, or a client error we did not ask
        for (the mix sends only valid requests)."""
        return [o for o in self.outcomes if not o.ok]

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started < end]


# A slow reader's socket: a small fixed receive buffer (no autotuning, which on this kernel
# grows to 32 MB and would swallow a whole export), so an unread response fills up and the
# server has to wait, as it does for a client on a slow link.
SLOW_RECEIVE_BUFFER = 64 * 1024


def slow_reader_client(base_url: str, timeout_s: float = 30) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER)]
    )
    return httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)


Step = Callable[[httpx.AsyncClient, Tally], Awaitable[None]]


async def call(
    client: httpx.AsyncClient, tally: Tally, method: str, path: str, **kwargs: object
) -> httpx.Response | None:
    started = time.monotonic()
    try:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        tally.outcomes.append(
            Outcome(method, path, started, time.monotonic(), None, type(error).__name__)
        )
        if isinstance(error, httpx.ConnectError):
            await asyncio.sleep(REFUSED_BACKOFF_S)  # as a real client would, not a busy loop
        return None
    detail = None
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        detail = str(response.json().get("detail"))
    tally.outcomes.append(
        Outcome(method, path, started, time.monotonic(), response.status_code, detail=detail)
    )
    return response


async def mixed_step(client: httpx.AsyncClient, tally: Tally) -> None:
    """A quarter writes, a quarter pages, half reads of items this load created."""
    roll = random.random()
    if roll < 0.25 or not tally.created_ids:
        name = f"fault-{uuid.uuid4().hex}"
        response = await call(client, tally, "POST", "/items", json={"name": name, "price": 1.5})
        if response is None:
            tally.unanswered_names.append(name)
        elif response.status_code == 201:
            tally.created_ids.append(response.json()["id"])
    elif roll < 0.5:
        await call(client, tally, "GET", "/items", params={"limit": 20})
    else:
        await call(client, tally, "GET", f"/items/{random.choice(tally.created_ids)}")


async def drive(
    base_url: str,
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    step: Step = mixed_step,
    tally: Tally | None = None,
    stop: asyncio.Event | None = None,
    pause_s: float = 0.0,
    keepalive: bool = True,
) -> Tally:
    """Run ``step`` from ``concurrency`` clients until the time, the count or ``stop`` runs out."""
    tally = tally if tally is not None else Tally()
    deadline = time.monotonic() + duration_s
    budget = itertools.count()
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency if keepalive else 0
    )

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            if next(budget) >= max_requests:
                return
            await step(client, tally)
            if pause_s:
                await asyncio.sleep(pause_s)

    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits
    ) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
    return tally

"""A closed-loop HTTP/1.1 load generator for ``leakproof bench``, run in its own process.

Why not locust: its FastHttpUser tops out at a few thousand req/s on one core, so at the
~3,000 req/s of the raw endpoint it would take about a third of one of our two cores away from
the server it measures. This loop is uvloop's transport plus httptools' C parser (both already
installed by uvicorn[standard] from the lock file, so a fresh machine has them): one write and
one parse per request, several times cheaper per request. It reports its own CPU use so a run
can show the generator was not the bottleneck.

Each of N keep-alive connections sends one GET, waits for the whole response, then sends the
next (no pipelining). No request is sent after the deadline. Throughput counts the answers
inside the measured window; the percentiles count every request sent inside it, however late its
answer came, so a slow tail cut by the deadline is still seen. The slow counts (over 1 s, over
2 s) take every answer of the run, the warm-up's too: a connection's first request waits for the
server to accept the connection, and a server that accepts slowly under load (docs/bench.md)
must not hide behind the warm-up. A 503 is a shed request, counted apart from errors, and its
connection waits the Retry-After it was given (as a polite client would) before sending again.
``python -m load.bench.generator --port P ...`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import httptools
import uvloop

from load.bench.stats import summarise_latencies

PATH_TEMPLATE = "/items/{}"
SLOW_MS = (1000.0, 2000.0)  # the bench counts the answers slower than each
SHED_STATUS = 503
RETRY_AFTER_CAP_S = 5.0  # a longer Retry-After would idle a connection for most of a run


@dataclass
class Window:
    """Completed requests inside the measured window."""

    start: float
    end: float
    latencies_ms: list[float] = field(default_factory=list)  # 200s sent inside the window
    all_latencies_ms: list[float] = field(default_factory=list)  # every answer, warm-up too
    answered: int = 0  # 200s that arrived inside the window: the throughput
    shed: int = 0  # 503s (Retry-After) to requests sent inside the window
    errors: int = 0
    completed: int = 0  # every response, warm-up included: the server's CPU covers them all


class _Connection(asyncio.Protocol):
    def __init__(self, requests: Iterator[bytes], window: Window, done: asyncio.Future[None]):
        self._requests = requests
        self._window = window
        self._done = done
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._sent_at = 0.0
        self._retry_after_s = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._sent_at = time.perf_counter()
        if self._sent_at >= self._window.end:
            self._transport.close()
            return
        self._transport.write(next(self._requests))

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after" and value.strip().isdigit():
            self._retry_after_s = min(float(value), RETRY_AFTER_CAP_S)

    def on_message_complete(self) -> None:
        finished = time.perf_counter()
        window = self._window
        window.completed += 1
        status = self._parser.get_status_code()
        window.all_latencies_ms.append((finished - self._sent_at) * 1000)
        if window.start <= self._sent_at < window.end:
            if status == 200:
                window.latencies_ms.append((finished - self._sent_at) * 1000)
                if finished <= window.end:
                    window.answered += 1
            elif status == SHED_STATUS:
                window.shed += 1
            else:
                window.errors += 1
        if status == SHED_STATUS and self._retry_after_s:
            delay, self._retry_after_s = self._retry_after_s, 0.0
            asyncio.get_running_loop().call_later(delay, self._send)
            return
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            if exc is not None or time.perf_counter() < self._window.end:
                self._window.errors += 1  # the server closed on us before the deadline
            self._done.set_result(None)


def request_stream(host: str, max_id: int, seed: int) -> Iterator[bytes]:
    """GET /items/{id} with ids drawn uniformly from 1..max_id, the same sequence for a seed."""
    draw = random.Random(seed)
    header = f"HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
    while True:
        yield b"GET " + PATH_TEMPLATE.format(draw.randint(1, max_id)).encode() + b" " + header


async def run(
    host: str, port: int, *, connections: int, duration_s: float, warmup_s: float,
    max_id: int, seed: int,
) -> dict[str, Any]:  # fmt: skip
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    window = Window(start=now + warmup_s, end=now + warmup_s + duration_s)
    cpu_before = time.process_time()
    finished: list[asyncio.Future[None]] = []
    for number in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        requests = request_stream(host, max_id, seed * 1000 + number)
        await loop.create_connection(partial(_Connection, requests, window, done), host, port)
        finished.append(done)
    await asyncio.wait_for(asyncio.gather(*finished), timeout=warmup_s + duration_s + 30)
    cpu_s = time.process_time() - cpu_before
    latencies = window.latencies_ms
    result: dict[str, Any] = {
        "requests": window.answered,
        "requests_total": window.completed,
        "errors": window.errors,
        "shed": window.shed,
        "duration_s": duration_s,
        "rps": window.answered / duration_s,
        "generator_cpu": cpu_s / (warmup_s + duration_s),
        "connections": connections,
    }
    for limit_ms in SLOW_MS:
        slow = sum(latency > limit_ms for latency in window.all_latencies_ms)
        result[f"over_{limit_ms / 1000:g}s"] = slow
    if latencies:
        result.update(summarise_latencies(latencies))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="closed-loop GET /items/{id} load, JSON out")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-id", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.host.startswith("127.") and args.host not in {"localhost", "::1"}:
        print("bench_load: only loopback targets are allowed", file=sys.stderr)
        return 2
    result = uvloop.run(
        run(
            args.host, args.port, connections=args.connections, duration_s=args.duration,
            warmup_s=args.warmup, max_id=args.max_id, seed=args.seed,
        )
    )  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

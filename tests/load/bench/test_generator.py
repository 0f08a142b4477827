"""The bench's load generator against a scripted HTTP server on loopback: what it counts as
throughput, as shed and as slow, and that a shed connection waits its Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from load.bench import generator

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
SHED = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"


class ScriptedServer:
    """Answers its n-th request with ``script[n]``: (delay in seconds, response)."""

    def __init__(self, script: list[tuple[float, bytes]]) -> None:
        self.script = script
        self.arrivals: list[float] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.arrivals.append(time.perf_counter())
                delay, response = self.script[min(len(self.arrivals), len(self.script)) - 1]
                await asyncio.sleep(delay)
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_a_slow_first_answer_in_the_warm_up_counts_as_slow() -> None:
    """A connection's first request waits for the server to accept it: a slow one must show
    in the slow counts even though the percentiles leave the warm-up out."""
    server = ScriptedServer([(1.1, OK), (0, OK)])
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        result = await generator.run(
            "127.0.0.1", port, connections=1, duration_s=0.5, warmup_s=1.0, max_id=10, seed=1
        )
    finally:
        listener.close()
        await listener.wait_closed()
    assert result["over_1s"] == 1
    assert result["max_ms"] < 1000  # the window's own answers were fast


async def test_shed_slow_and_late_answers_are_counted_apart() -> None:
    server = ScriptedServer([(0, OK), (0, OK), (0, OK), (0, SHED), (1.2, OK), (0, OK)])
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        result = await generator.run(
            "127.0.0.1", port, connections=1, duration_s=1.5, warmup_s=0.0, max_id=10, seed=1
        )
    finally:
        listener.close()
        await listener.wait_closed()
    # three answers inside the window; the fifth request, sent inside it, was answered after
    assert result["requests"] == 3
    assert result["rps"] == pytest.approx(3 / 1.5)
    assert result["shed"] == 1
    assert result["errors"] == 0
    assert result["over_1s"] == 1  # the late answer is still seen in the tail
    assert result["over_2s"] == 0
    assert result["max_ms"] >= 1200
    assert len(server.arrivals) == 5  # nothing sent after the deadline
    # the shed connection waited its Retry-After before sending again
    assert server.arrivals[4] - server.arrivals[3] >= 0.95

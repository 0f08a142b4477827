"""Clients that abort downloads or read them slowly: aborted exports give their connection
back, and slow readers pin at most ``export_max_running`` connections while the rest of the
service keeps answering."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.postgres import app_connections, seed_items, wait_app_connections
from tests.faults.traffic import slow_reader_client
from tests.support.servers import running

pytestmark = pytest.mark.faults

# ~18 MB of CSV: more than the socket buffers (the sender's grow to 4 MB here) and the export
# queue hold, so a stalled reader really stalls the export (and holds its connection)
SEEDED = 100_000
ABORTED = 100
EXPORT_CAP = 3
SLOW_READERS = 8


async def abort_export(base_url: str) -> int:
    """Start an export, read one chunk, and hang up mid-stream (leaving the loop closes it)."""
    async with (
        slow_reader_client(base_url) as client,
        client.stream("GET", "/items/export", params={"format": "csv"}) as response,
    ):
        async for _ in response.aiter_raw(chunk_size=4096):
            break
        return response.status_code


async def checked_out(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/debug/stats")).json()
    count: int = stats["pool"]["checked_out"]
    return count


async def test_aborted_exports_leave_no_connection_checked_out(
    server_database: str, log_dir: Path
) -> None:
    await seed_items(server_database, SEEDED)
    with running("uvicorn", server_database, log_dir) as server:
        statuses: list[int] = []
        for _ in range(ABORTED // 4):  # four at a time: the default export cap
            statuses += await asyncio.gather(*(abort_export(server.url) for _ in range(4)))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            left = await checked_out(client)
            for _ in range(20):  # a hang-up is noticed on the server's next write
                if left == 0:
                    break
                await asyncio.sleep(0.1)
                left = await checked_out(client)
            exports_running = (await client.get("/debug/stats")).json()["exports_running"]
        output = server.output()
    print(f"{len(statuses)} aborted exports: {set(statuses)}; checked out after: {left}")
    assert statuses == [200] * ABORTED
    assert left == 0
    assert exports_running == 0
    assert "Traceback" not in output


async def test_slow_readers_pin_no_more_connections_than_the_export_cap(
    server_database: str, log_dir: Path
) -> None:
    await seed_items(server_database, SEEDED)
    with running(
        "uvicorn", server_database, log_dir, LEAKPROOF_EXPORT_MAX_RUNNING=str(EXPORT_CAP)
    ) as server:
        async with slow_reader_client(server.url) as client:
            streams = [
                client.stream("GET", "/items/export", params={"format": "csv"})
                for _ in range(SLOW_READERS)
            ]
            responses = [await stream.__aenter__() for stream in streams]
            try:
                # read a little, then stall like a slow client (keep the iterators: leaving an
                # `async for` early would close the response, which is an abort, not a stall)
                readers = [r.aiter_raw(chunk_size=4096) for r in responses if r.status_code == 200]
                for reader in readers:
                    await anext(reader)
                await asyncio.sleep(0.5)
                pinned = await app_connections(server_database)
                started = time.monotonic()
                other = await client.get("/items", params={"limit": 5})
                other_s = time.monotonic() - started
            finally:
                for stream in streams:
                    await stream.__aexit__(None, None, None)
            await asyncio.sleep(0.5)
            left = await checked_out(client)
        output = server.output()
    connections_after, _ = await wait_app_connections(server_database, at_most=0, timeout_s=5)
    codes = [r.status_code for r in responses]
    print(
        f"{SLOW_READERS} slow readers, cap {EXPORT_CAP}: {codes}; app connections while "
        f"stalled {pinned}; another request took {other_s:.3f}s; checked out after {left}"
    )
    assert codes.count(200) == EXPORT_CAP
    assert codes.count(503) == SLOW_READERS - EXPORT_CAP
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 503)
    # the stalled exports hold their connections, and no more than the cap of them
    assert EXPORT_CAP <= pinned <= EXPORT_CAP + 1  # + the one the other requests use
    assert other.status_code == 200
    assert other_s < 1.0
    assert left == 0
    assert connections_after == 0
    assert "Traceback" not in output

"""SIGTERM under load: in-flight requests complete, new ones are refused cleanly, jobs are
cancelled, the engine is disposed and the app's connections are gone within seconds."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.postgres import existing_names, missing_items, seed_items, wait_app_connections
from tests.faults.traffic import Tally, call, drive, mixed_step, slow_reader_client
from tests.support.servers import Kind, running

pytestmark = pytest.mark.faults

# ~25 MB of NDJSON read through a small socket buffer: the server is still streaming when
# SIGTERM arrives
SEEDED = 100_000
CONNECTIONS_GONE_S = 5.0
# No answer at all: the connection was refused, or closed by the server before it read the
# request (uvicorn closes idle keep-alive connections at shutdown and finishes any request it has
# started, so a request it had read always gets its answer). A write without an answer must
# therefore not have been applied; the test checks that in the database.
NOT_TAKEN = {"ConnectError", "RemoteProtocolError", "ReadError"}


async def step_with_jobs(client: httpx.AsyncClient, tally: Tally) -> None:
    if random.random() < 0.05:
        await call(client, tally, "POST", "/jobs", json={"kind": "items-summary"})
    else:
        await mixed_step(client, tally)


async def slow_export(base_url: str, pause_s: float) -> tuple[int, int, float]:
    """Read a whole NDJSON export in small slow bites; return (status, rows, when it ended)."""
    rows = 0
    tail = b""
    async with (
        slow_reader_client(base_url) as client,
        client.stream("GET", "/items/export") as response,
    ):
        async for chunk in response.aiter_raw(chunk_size=16_384):
            rows += chunk.count(b"\n")
            tail = chunk
            await asyncio.sleep(pause_s)
    assert tail.endswith(b"\n"), "the export was cut short"
    return response.status_code, rows, time.monotonic()


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
async def test_sigterm_under_load_finishes_in_flight_work_and_leaves_no_connection(
    kind: Kind, server_database: str, log_dir: Path
) -> None:
    await seed_items(server_database, SEEDED)
    workers = 2 if kind == "gunicorn" else 1
    with running(kind, server_database, log_dir, LEAKPROOF_WORKERS=str(workers)) as server:
        tally = Tally()
        stop = asyncio.Event()
        load = asyncio.create_task(
            drive(
                server.url,
                concurrency=16,
                duration_s=30,
                max_requests=50_000,
                step=step_with_jobs,
                tally=tally,
                stop=stop,
            )
        )
        exports = [asyncio.create_task(slow_export(server.url, pause_s=0.002)) for _ in range(2)]
        await asyncio.sleep(1.5)
        terminated = time.monotonic()
        server.signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.wait_exit, 60)
        exited = time.monotonic()
        stop.set()
        await load
        export_results = await asyncio.gather(*exports)
        connections, waited = await wait_app_connections(
            server_database, at_most=0, timeout_s=CONNECTIONS_GONE_S
        )
        output = server.output()

    in_flight = [o for o in tally.outcomes if o.started < terminated < o.ended]
    before = [o for o in tally.outcomes if o.started < terminated]
    after = [o for o in tally.outcomes if o.started >= terminated]
    print(
        f"{kind}: {len(before)} requests before SIGTERM, {len(in_flight)} in flight, "
        f"{len(after)} after: {tally.statuses()}; exports {[r[:2] for r in export_results]}; "
        f"exit after {exited - terminated:.2f}s; connections {connections} after {waited:.2f}s"
    )
    # uvicorn re-raises the signal once it has shut down cleanly; gunicorn exits 0
    assert exit_code in (0, -signal.SIGTERM), output[-3000:]
    assert in_flight, "the load had nothing in flight at SIGTERM: the test proved nothing"
    assert [o for o in tally.outcomes if o.status is not None and not o.ok] == []
    # the exports were in flight at SIGTERM (they ended after it) and arrived whole
    assert [(status, rows >= SEEDED) for status, rows, _ in export_results] == [(200, True)] * 2
    assert all(ended > terminated for _, _, ended in export_results)
    assert [o for o in tally.outcomes if o.status is None and o.error not in NOT_TAKEN] == []
    assert any(o.error == "ConnectError" for o in after), "no new connection was refused"
    assert connections == 0
    assert await missing_items(server_database, tally.created_ids) == []
    assert await existing_names(server_database, tally.unanswered_names) == []
    assert output.count("resources closed: jobs cancelled, engine disposed") == workers
    assert "Traceback" not in output
    assert "ignored cancellation" not in output

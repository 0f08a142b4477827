"""A worker past its memory budget is recycled through the same drain as max_requests: the
leaking twin is recycled again and again with no failed request, the fixed build never.

Both builds run under gunicorn with 2 workers, the same budget and the same minute of load:
reads of many distinct seeded items (8 KB each, so the twin's module-level dict grows fast),
some writes, from clients that keep their connections alive and clients that do not. The
budget is an idle worker's RSS plus room to grow; the figures are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.dev.cli import BUILDS as BUILD_TARGETS
from tests.faults.postgres import existing_names, missing_items, seed_items
from tests.faults.traffic import Step, Tally, call, drive
from tests.support.servers import Server, running

pytestmark = pytest.mark.faults

DURATION_S = 60.0
MAX_DURATION_S = 150.0
SEEDED, DESCRIPTION_CHARS = 20_000, 8_000
# an idle worker holds ~75-80 MB here: the twin reaches the budget after a few thousand
# distinct reads, while the fixed build's bounded cache (200 entries) keeps it well below
BUDGET_MB = 110
MIN_MEMORY_RECYCLES = 5
RECYCLED_BY_MEMORY = re.compile(r"worker \d+ recycled by memory")
SETTINGS = {
    "LEAKPROOF_WORKERS": "2",
    "LEAKPROOF_MAX_WORKER_MEMORY_MB": str(BUDGET_MB),
    "LEAKPROOF_MAX_REQUESTS": "0",  # memory alone decides
    "LEAKPROOF_CACHE_MAX_ENTRIES": "200",
    "LEAKPROOF_LEAKS": "global-state",  # read by the twin only
}


def reads_and_writes(seeded: int) -> Step:
    """Mostly reads of distinct seeded items (what the twin retains), a few writes."""

    async def step(client: httpx.AsyncClient, tally: Tally) -> None:
        if random.random() < 0.1:
            name = f"memory-{uuid.uuid4().hex}"
            answer = await call(client, tally, "POST", "/items", json={"name": name, "price": 2})
            if answer is None:
                tally.unanswered_names.append(name)
            elif answer.status_code == 201:
                tally.created_ids.append(answer.json()["id"])
        else:
            await call(client, tally, "GET", f"/items/{random.randint(1, seeded)}")

    return step


def memory_recycles_in_metrics(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "leakproof_worker_recycles_total" and sample.labels["reason"] == "memory"
    )


async def load_under_budget(
    server: Server, tally: Tally, enough_recycles: int | None
) -> tuple[float, float]:
    """Half the clients keep their connections alive, half do not, for DURATION_S (longer, up
    to MAX_DURATION_S, until ``enough_recycles`` on a busy machine). Returns (seconds driven,
    memory recycles counted by /metrics once the load has stopped)."""
    stop = asyncio.Event()
    step = reads_and_writes(SEEDED)
    loads = [
        asyncio.create_task(
            drive(
                server.url,
                concurrency=4,
                duration_s=MAX_DURATION_S,
                max_requests=1_000_000,
                step=step,
                tally=tally,
                stop=stop,
                keepalive=keepalive,
            )
        )
        for keepalive in (True, False)
    ]
    started = time.monotonic()
    while not all(load.done() for load in loads):
        await asyncio.sleep(1)
        recycled = len(RECYCLED_BY_MEMORY.findall(server.output()))
        if time.monotonic() - started >= DURATION_S and (
            enough_recycles is None or recycled >= enough_recycles
        ):
            stop.set()
    await asyncio.gather(*loads)
    driven_s = time.monotonic() - started
    await asyncio.sleep(1)  # a worker still draining has counted itself already; let it go
    return driven_s, await asyncio.to_thread(memory_recycles_in_metrics, server)


# the twin first, when the project has one (a project started without it keeps the fixed half)
BUILDS = sorted(BUILD_TARGETS.items(), key=lambda build: build[0] != "leaky")


@pytest.mark.parametrize(("build", "target"), BUILDS)
async def test_a_memory_budget_recycles_the_leak_and_fails_no_request(
    server_database: str, log_dir: Path, build: str, target: str
) -> None:
    await seed_items(server_database, SEEDED, description_chars=DESCRIPTION_CHARS)
    tally = Tally()
    with running("gunicorn", server_database, log_dir, target, **SETTINGS) as server:
        enough = MIN_MEMORY_RECYCLES if build == "leaky" else None
        driven_s, counted = await load_under_budget(server, tally, enough)
        output = server.output()
    recycled = len(RECYCLED_BY_MEMORY.findall(output))
    answered_badly = [o for o in tally.outcomes if o.status is not None and not o.ok]
    unanswered = [o for o in tally.outcomes if o.status is None]
    print(
        f"{build}: {len(tally.outcomes)} requests in {driven_s:.0f}s, {recycled} recycles by "
        f"memory (budget {BUDGET_MB} MB): {tally.statuses()}"
    )
    assert counted == recycled, output[-3000:]  # /metrics counts what the log says
    if build == "leaky":
        assert recycled >= MIN_MEMORY_RECYCLES, output[-3000:]
    else:
        assert recycled == 0, output[-3000:]
    assert answered_badly == []
    assert unanswered == [], {o.error for o in unanswered}  # none closed unread, no timeout
    assert await existing_names(server_database, tally.unanswered_names) == []
    assert await missing_items(server_database, tally.created_ids) == []

"""aborted-stream: a download the client abandons leaves its connection checked out.

Mechanism: the twin's generator closes its connection only after its last chunk and nothing
closes the generator when the client goes away, so each aborted download keeps one connection:
checked-out connections grow by one per abort. The fix's ``finally`` (run by ``aclosing``)
stops the COPY and gives the connection back.
"""

from __future__ import annotations

import pytest

from app.leaky.aborted_stream import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import pg_activity, seed_items
from tests.support.asgi import Download
from tests.support.leakcheck import LeakCheck

ABORTS, WARMUP = 8, 2
ROWS = 4000  # a CSV of several chunks, so the client leaves in the middle
REASON = "the twin's CSV generator has no finally: an aborted download keeps its connection"
SETTINGS = {"db_pool_size": ABORTS + 2, "db_max_overflow": 0, "export_max_running": ABORTS}


async def abort_one(running_asgi: object) -> None:
    download = Download(running_asgi, "/items/export", "format=csv")  # type: ignore[arg-type]
    await download.run(abort=True)
    assert download.status == 200
    assert download.body_bytes > 0


@pytest.mark.parametrize("build", builds(REASON))
async def test_aborted_downloads_do_not_leak_pool_connections(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    await seed_items(database_url, ROWS)
    async with start_build(build, ID, **SETTINGS) as running:
        await leak_check(
            lambda _: abort_one(running.asgi),
            running.checked_out,
            times=ABORTS,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one connection kept per abort is 1
            name="pool checked-out",
        )


@pytest.mark.parametrize("build", builds(REASON))
async def test_aborted_downloads_do_not_leak_server_connections(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    await seed_items(database_url, ROWS)
    async with (
        start_build(build, ID, **SETTINGS) as running,
        pg_activity(database_url, running.application_name) as connections,
    ):
        await leak_check(
            lambda _: abort_one(running.asgi),
            connections,
            times=ABORTS,
            warmup=WARMUP,
            max_growth_per_action=0.25,
            name="pg_stat_activity rows",
        )

"""stream-holds-session: each open download pins a pooled connection, with no cap.

Mechanism: the twin's request-scoped session is closed only after the last byte is read, so
every download still open holds one connection: checked-out connections grow one for one with
slow readers. The fix holds a connection only inside the stream and caps concurrent exports at
``export_max_running`` (others get 503 at once), so the count stops at the cap.
"""

from __future__ import annotations

import asyncio

import pytest

from app.leaky.stream_holds_session import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import seed_items
from tests.support.asgi import Download
from tests.support.leakcheck import LeakCheck

OPEN_DOWNLOADS, EXPORT_CAP = 10, 3
REASON = "the twin's downloads each pin a connection until their client has read everything"


@pytest.mark.parametrize("build", builds(REASON))
async def test_slow_downloads_do_not_pin_more_connections_than_the_export_cap(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    await seed_items(database_url, 500)
    settings = {
        "export_max_running": EXPORT_CAP,
        "export_batch_rows": 50,  # several chunks: a slow reader stops after the first
        "db_pool_size": OPEN_DOWNLOADS + 2,
        "db_max_overflow": 0,
    }
    async with start_build(build, ID, **settings) as running:
        downloads: list[Download] = []
        tasks: list[asyncio.Task[None]] = []

        async def open_one(_index: int) -> None:
            download = Download(running.asgi, "/items/export", "format=ndjson")
            downloads.append(download)
            tasks.append(asyncio.create_task(download.run(hold=True)))
            await download.first_chunk.wait()

        try:
            await leak_check(
                open_one,
                running.checked_out,
                times=OPEN_DOWNLOADS,
                warmup=EXPORT_CAP,
                max_growth_per_action=0.25,  # one pinned connection per open download is 1
                name="pool checked-out",
            )
        finally:
            for download in downloads:
                download.resume.set()
            await asyncio.gather(*tasks)
        statuses = {download.status for download in downloads}
        assert statuses <= {200, 503}

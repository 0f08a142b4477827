"""unstreamed-export: the twin builds the whole export in memory before sending a byte.

Mechanism: holding every row at once needs at least the body itself, so the peak of the Python
heap during an export grows with the rows by at least the bytes of one line per row. The fix
streams ``export_batch_rows`` rows at a time: its peak is one batch, whatever the table size.
The body goes to a client that counts and drops it (not httpx, which would keep it in memory).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from app.leaky.unstreamed_export import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import seed_items
from tests.support.asgi import Download
from tests.support.leakcheck import Series, assert_levels_off

ROWS_STEP, STEPS = 800, 5
BATCH_ROWS = 100
REASON = "the twin holds every row of the export at once"


@pytest.fixture
def traced_heap() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    yield
    if started:
        tracemalloc.stop()


@pytest.mark.parametrize("build", builds(REASON))
@pytest.mark.usefixtures("traced_heap")
async def test_export_does_not_hold_every_row_when_the_table_grows(
    build: str, start_build: Start, database_url: str, request: pytest.FixtureRequest
) -> None:
    points: list[tuple[int, float]] = []
    bytes_per_row = 0.0
    async with start_build(build, ID, export_batch_rows=BATCH_ROWS) as running:
        for step in range(STEPS):
            await seed_items(database_url, ROWS_STEP, start=step * ROWS_STEP + 1)
            rows = (step + 1) * ROWS_STEP
            download = Download(running.asgi, "/items/export", "format=ndjson")
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            await download.run()
            peak = tracemalloc.get_traced_memory()[1] - baseline
            assert download.status == 200
            bytes_per_row = download.body_bytes / rows
            points.append((rows, peak))
    series = Series("peak heap bytes during an export", tuple(points), unit="rows")
    request.node.add_report_section("call", series.signal, series.table())
    # holding the body alone costs bytes_per_row per row; a streamed export costs nothing per row
    assert_levels_off(series, warmup=ROWS_STEP, max_growth_per_action=bytes_per_row / 4)

"""metrics-cardinality: the twin labels request metrics by raw path, one series per item read.

Mechanism: each distinct path is a new label value, so the series in ``/metrics`` grow by one
counter and one histogram per new item read. The fix labels by the route template: every read
shares ``/items/{item_id}`` and the count stays put after the first.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.leaky.metrics_cardinality import ID
from tests.leaks.conftest import Running, Start, builds
from tests.leaks.signals import seed_items
from tests.support.leakcheck import LeakCheck

READS, WARMUP = 24, 4
REASON = "the twin labels by raw path: every new item read adds its series"
DURATION_COUNT = "leakproof_http_request_duration_seconds_count"


async def duration_series(running: Running) -> int:
    """Series of the request histogram in one scrape (its ``_count`` lines)."""
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    return sum(
        1
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == DURATION_COUNT
    )


@pytest.mark.parametrize("build", builds(REASON))
async def test_request_metrics_do_not_add_series_per_item(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    ids = await seed_items(database_url, READS)
    async with start_build(build, ID) as running:

        async def read(index: int) -> None:
            response = await running.client.get(f"/items/{ids[index]}")
            assert response.status_code == 200, response.text

        await leak_check(
            read,
            lambda: duration_series(running),
            times=READS,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one series per distinct path is 1 per read
            every=4,
            name="request-duration series in /metrics",
        )

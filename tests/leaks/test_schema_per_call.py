"""schema-per-call: the twin builds a row model and its adapter per list page, and keeps them.

Mechanism: each page makes a new class with ``create_model`` and asks a type-keyed memo for its
``TypeAdapter``; the new class is a new key, so the memo keeps both, each with a pydantic-core
``SchemaValidator`` (two per page). The fix validates every page with one adapter built at
import: after the first page no validator is made, and none is kept.
"""

from __future__ import annotations

import pytest
from pydantic_core import SchemaValidator

from app.leaky.schema_per_call import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import live_instances, seed_items
from tests.support.leakcheck import LeakCheck

PAGES, WARMUP, PAGE_SIZE = 24, 4, 5
REASON = "the twin makes a schema per list page, and its adapter cache keeps every one"


@pytest.mark.parametrize("build", builds(REASON))
async def test_list_pages_do_not_keep_a_schema_each(
    build: str, start_build: Start, leak_check: LeakCheck, database_url: str
) -> None:
    ids = await seed_items(database_url, PAGE_SIZE * 3)
    async with start_build(build, ID) as running:

        async def page(index: int) -> None:
            after = ids[index % 3 * PAGE_SIZE] - 1
            response = await running.client.get(
                "/items", params={"limit": PAGE_SIZE, "after": after}
            )
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == PAGE_SIZE

        await leak_check(
            page,
            lambda: live_instances(SchemaValidator),
            times=PAGES,
            warmup=WARMUP,
            # a kept schema is at least one validator (two here: the model's, the adapter's)
            max_growth_per_action=0.25,
            every=4,
            name="live pydantic-core SchemaValidator objects",
        )

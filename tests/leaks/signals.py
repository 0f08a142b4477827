"""What the proofs measure, the same way for both builds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.support.database import connected

ACTIVITY = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"


@asynccontextmanager
async def pg_activity(database_url: str, application_name: str) -> AsyncIterator[Any]:
    """A counter of the server's connections named ``application_name``, read over a
    connection of its own (not counted: it has another name)."""
    async with connected(database_url) as monitor:

        async def count() -> int:
            value: int = await monitor.fetchval(ACTIVITY, application_name)
            return value

        yield count


def live_instances(cls: type) -> int:
    """Objects of exactly this type the garbage collector can see."""
    return sum(1 for obj in gc.get_objects() if type(obj) is cls)


def asyncio_tasks() -> int:
    return len(asyncio.all_tasks())


async def seed_items(database_url: str, count: int, *, start: int = 1) -> list[int]:
    """``count`` rows named item-<n>, written straight to the table; returns their ids."""
    async with connected(database_url) as connection:
        rows = await connection.fetch(
            "INSERT INTO items (name, description, price) "
            "SELECT 'item-' || n, 'a plain description of item ' || n, n * 0.25 "
            "FROM generate_series($1::int, $2::int) AS n RETURNING id",
            start,
            start + count - 1,
        )
    return [row["id"] for row in rows]

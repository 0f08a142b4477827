from __future__ import annotations

from app.dev import migrations
from tests.support.database import connected


async def tables(url: str) -> set[str]:
    async with connected(url) as connection:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def columns(url: str) -> list[str]:
    async with connected(url) as connection:
        rows = await connection.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'items' ORDER BY ordinal_position"
        )
    return [row["column_name"] for row in rows]


async def test_downgrade_to_base_drops_items_and_upgrade_to_head_brings_it_back(
    database_url: str,
) -> None:
    import asyncio

    await asyncio.to_thread(migrations.downgrade, database_url, "base")
    assert "items" not in await tables(database_url)
    await asyncio.to_thread(migrations.upgrade, database_url, "head")
    assert "items" in await tables(database_url)
    assert await columns(database_url) == [
        "id",
        "name",
        "description",
        "price",
        "created_at",
        "updated_at",
    ]

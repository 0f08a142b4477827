"""Database-side views for fault tests: the app's connections, rows that must exist, and a
dedicated embedded PostgreSQL that a test may stop and start (never the shared one)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from app.dev import embedded_postgres, migrations
from tests.support.database import connected

APP_CONNECTIONS = "leakproof:%"


async def app_connections(url: str) -> int:
    """Rows in pg_stat_activity of the service's processes, in this URL's database."""
    async with connected(url) as connection:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE $1 AND datname = current_database()",
            APP_CONNECTIONS,
        )
    return count


async def wait_app_connections(url: str, at_most: int, timeout_s: float) -> tuple[int, float]:
    """Poll until at most ``at_most`` app connections remain; return (count, seconds waited)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        count = await app_connections(url)
        waited = loop.time() - start
        if count <= at_most or waited >= timeout_s:
            return count, waited
        await asyncio.sleep(0.1)


async def missing_items(url: str, ids: list[int]) -> list[int]:
    async with connected(url) as connection:
        found = await connection.fetch("SELECT id FROM items WHERE id = ANY($1::bigint[])", ids)
    return sorted(set(ids) - {row["id"] for row in found})


async def existing_names(url: str, names: list[str]) -> list[str]:
    async with connected(url) as connection:
        rows = await connection.fetch("SELECT name FROM items WHERE name = ANY($1::text[])", names)
    return sorted(row["name"] for row in rows)


async def seed_items(url: str, count: int, description_chars: int = 100) -> None:
    async with connected(url) as connection:
        await connection.execute(
            "INSERT INTO items (name, description, price) "
            "SELECT 'seed-' || n, repeat('x', $2), n % 1000 FROM generate_series(1, $1) AS n",
            count,
            description_chars,
        )


class DedicatedPostgres:
    """An embedded PostgreSQL in a folder of its own, which a test may stop and start."""

    def __init__(self, data_dir: Path, database: str) -> None:
        self.data_dir = data_dir
        self.url = embedded_postgres.start(data_dir, database)
        migrations.upgrade(self.url)
        self._pg_ctl = embedded_postgres.bin_dir() / "pg_ctl"
        files = embedded_postgres.server_files(data_dir)
        self._pgdata = files.pgdata
        self._user = files.system_user
        self._log = files.log
        self._socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]

    def _pg_ctl_run(self, *args: str) -> None:
        subprocess.run(
            [str(self._pg_ctl), "-D", str(self._pgdata), *args],
            check=True,
            capture_output=True,
            user=self._user,
            timeout=30,
        )

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, as in a failover or a restart for an upgrade."""
        self._pg_ctl_run("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl_run(
            "-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self._log), "start"
        )

    def running(self) -> bool:
        status = subprocess.run(
            [str(self._pg_ctl), "-D", str(self._pgdata), "status"],
            capture_output=True,
            user=self._user,
            check=False,
        )
        return status.returncode == 0


@contextmanager
def dedicated_postgres(database: str) -> Iterator[DedicatedPostgres]:
    # a short folder: the unix socket path must stay under ~107 bytes
    data_dir = Path(tempfile.mkdtemp(prefix="lp-pg-"))
    os.chmod(data_dir, 0o755)  # the server runs as its own OS user when we are root
    server: DedicatedPostgres | None = None
    try:
        server = DedicatedPostgres(data_dir, database)
        yield server
    finally:
        if server is not None and server.running():
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

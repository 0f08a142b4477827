"""What the lab sees of a build from outside it: psutil over every server process, and a
connection of the lab's own counting the build's rows in pg_stat_activity."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg
import psutil

from load.run.database import asyncpg_dsn
from load.run.servers import server_processes

MB = 1024 * 1024
DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
COUNT_QUERY = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1"


class ConnectionCounter:
    """The lab's own connection counting a build's rows in pg_stat_activity.

    Opened before the build can exhaust anything, and reopened (at most once a second) if
    PostgreSQL drops it, so the count survives what the twin does to the server.
    """

    def __init__(
        self,
        database_url: str,
        prefix: str,
        note: Callable[[str], None],
        query: str = COUNT_QUERY,  # with $1, the application_name pattern
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._prefix = prefix
        self._query = query
        self._note = note
        self._connection: asyncpg.Connection | None = None
        self._last_attempt = 0.0

    async def count(self) -> int | None:
        if self._connection is None or self._connection.is_closed():
            if time.monotonic() - self._last_attempt < 1.0:
                return None
            self._last_attempt = time.monotonic()
            try:
                self._connection = await asyncpg.connect(self._dsn, timeout=5)
            except DATABASE_ERRORS as error:
                self._note(f"pg_stat_activity not sampled: {type(error).__name__}: {error}")
                return None
        try:
            count: int = await self._connection.fetchval(self._query, self._prefix)
        except DATABASE_ERRORS as error:
            self._note(f"pg_stat_activity count failed: {type(error).__name__}: {error}")
            return None
        return count

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()


def outside_sample(leader_pid: int) -> tuple[dict[int, psutil.Process], dict[str, float]]:
    """psutil totals over the arbiter and workers, and each worker's RSS."""
    arbiter, workers = server_processes(leader_pid)
    totals = {"rss_mb": 0.0, "uss_mb": 0.0, "fds": 0.0, "threads": 0.0}
    serving: dict[int, psutil.Process] = {}
    for process in ([arbiter] if arbiter else []) + workers:
        try:
            with process.oneshot():
                memory = process.memory_full_info()
                totals["rss_mb"] += memory.rss / MB
                totals["uss_mb"] += memory.uss / MB
                totals["fds"] += process.num_fds()
                totals["threads"] += process.num_threads()
                if process is not arbiter:
                    serving[process.pid] = process
                    totals[f"anon:{process.pid}"] = (memory.rss - memory.shared) / MB
                    totals[f"rss:{process.pid}"] = memory.rss / MB
        except psutil.NoSuchProcess:  # a worker recycled between listing and reading
            continue
    return serving, totals

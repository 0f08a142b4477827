"""Every name of SQLAlchemy's internals the speed-ups use, in one place.

Written for SQLAlchemy 2.1 (pyproject.toml: ``<2.2``); tests/speedups/test_sqlalchemy_internals.py
fails when an upgrade moves or reshapes any of them, and docs/private-names.md says why each is
needed. The plain service uses none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool, PoolProxiedConnection
from sqlalchemy.util import await_, greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

DISTRIBUTION = "sqlalchemy"
WRITTEN_FOR = ">=2.1,<2.2"

__all__ = [
    "AsyncAdaptedQueue",
    "Empty",
    "Full",
    "await_",
    "greenlet_spawn",
    "invalidate_all_before",
    "pool_with_queue",
]


def pool_with_queue(name: str, queue_class: type[AsyncAdaptedQueue[Any]]) -> type[Pool]:
    """SQLAlchemy's asyncio pool, keeping its idle connections in ``queue_class``: the pool takes
    the class from its private ``_queue_class``, and no public argument sets it."""
    namespace = {"_queue_class": queue_class, "__module__": queue_class.__module__}
    pool: type[Pool] = type(name, (AsyncAdaptedQueuePool,), namespace)
    return pool


def invalidate_all_before(
    pool: Pool, connection: PoolProxiedConnection, error: BaseException
) -> None:
    """Invalidate ``connection`` and retire every connection the pool opened before now, as
    SQLAlchemy's own Connection does on a disconnect (``Pool._invalidate``); the public
    ``invalidate()`` retires the one connection only."""
    pool._invalidate(connection, error)

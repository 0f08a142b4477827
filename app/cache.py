"""The bounded, injected cache: one interface, two backends, owned by the lifespan.

``Cache`` is what the routes see. ``BoundedCache`` keeps entries in this worker (an LRU with a
TTL); ``app.redis_cache.RedisCache`` keeps them in a Redis shared by every worker and replica.
The methods are async because the shared one is a network call; the in-process one answers at
once. The cache lives in the lifespan's state, never at module level, so every worker has
exactly one, its size has a ceiling, and a test or a second app instance gets its own.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache

V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    size: int
    max_entries: int
    ttl_s: float
    hits: int
    misses: int
    # calls that failed (Redis unreachable or slow) and were answered as a miss or a no-op
    errors: int = 0


class Cache(Protocol[V]):
    """Bounded by a number of entries and a TTL; hits and misses are counted per worker."""

    async def get(self, key: int | str) -> V | None: ...

    async def put(self, key: int | str, value: V) -> None: ...

    async def invalidate(self, key: int | str) -> None: ...

    async def clear(self) -> None: ...

    async def stats(self) -> CacheStats: ...


class BoundedCache(Generic[V]):
    """At most ``max_entries`` values, each for ``ttl_s`` seconds; least recently used go first."""

    def __init__(self, *, max_entries: int, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: TTLCache[Hashable, V] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_s) if max_entries else None
        )
        self._hits = 0
        self._misses = 0

    async def get(self, key: Hashable) -> V | None:
        value = self._entries.get(key) if self._entries is not None else None
        if value is None:
            self._misses += 1
        else:
            self._hits += 1
        return value

    async def put(self, key: Hashable, value: V) -> None:
        if self._entries is not None:
            self._entries[key] = value

    async def invalidate(self, key: Hashable) -> None:
        if self._entries is not None:
            self._entries.pop(key, None)

    async def clear(self) -> None:
        if self._entries is not None:
            self._entries.clear()

    async def stats(self) -> CacheStats:
        size = len(self._entries) if self._entries is not None else 0
        return CacheStats(size, self._max_entries, self._ttl_s, self._hits, self._misses)

"""The bounded, injected cache: an LRU with a TTL, owned by the lifespan, with hit/miss stats.

It lives in the lifespan's state, never at module level, so every worker has exactly one, its
size has a ceiling, and a test or a second app instance gets its own.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from cachetools import TTLCache
from fastapi import Depends, Request

V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    size: int
    max_entries: int
    ttl_s: float
    hits: int
    misses: int


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

    def get(self, key: Hashable) -> V | None:
        value = self._entries.get(key) if self._entries is not None else None
        if value is None:
            self._misses += 1
        else:
            self._hits += 1
        return value

    def put(self, key: Hashable, value: V) -> None:
        if self._entries is not None:
            self._entries[key] = value

    def invalidate(self, key: Hashable) -> None:
        if self._entries is not None:
            self._entries.pop(key, None)

    def clear(self) -> None:
        if self._entries is not None:
            self._entries.clear()

    def stats(self) -> CacheStats:
        size = len(self._entries) if self._entries is not None else 0
        return CacheStats(size, self._max_entries, self._ttl_s, self._hits, self._misses)


def get_cache(request: Request) -> BoundedCache[object]:
    cache: BoundedCache[object] = request.state.resources.cache
    return cache


CacheDep = Annotated[BoundedCache[object], Depends(get_cache)]

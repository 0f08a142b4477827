"""The bounded, injected cache: one interface, two backends, one cache per resource.

``Cache`` is what the routes see. ``BoundedCache`` keeps entries in this worker (an LRU with a
TTL); ``app.redis_cache.RedisCache`` keeps them in a Redis shared by every worker and replica.
The methods are async because the shared one is a network call; the in-process one answers at
once. ``Caches`` holds one cache per namespace (a resource: ``items``, ``orders``), each with its
own bound, so a new resource caches without sharing keys or a budget with the others. It lives in
the lifespan's state, never at module level: every worker has one, and a test or a second app
instance gets its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from cachetools import TTLCache
from fastapi import Request
from pydantic import BaseModel

V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)


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


CacheMaker = Callable[[str, type[BaseModel]], Cache[Any]]


class Caches:
    """One cache per namespace, made by ``make(namespace, model)`` on first use.

    The namespaces are the resources the code names, so their number is bounded by the code.
    A namespace holds one model: asking for it with another is a bug, refused at once.
    """

    def __init__(self, make: CacheMaker) -> None:
        self._make = make
        self._caches: dict[str, tuple[type[BaseModel], Cache[Any]]] = {}

    def of(self, namespace: str, model: type[M]) -> Cache[M]:
        made = self._caches.get(namespace)
        if made is None:
            made = self._caches[namespace] = (model, self._make(namespace, model))
        elif made[0] is not model:
            raise TypeError(
                f"cache {namespace!r} holds {made[0].__name__}, not {model.__name__}: "
                "give each resource a namespace of its own"
            )
        return cast("Cache[M]", made[1])

    async def stats(self) -> CacheStats:
        """Summed over the namespaces: ``max_entries`` is the total of their bounds."""
        every = [await cache.stats() for _, cache in self._caches.values()]
        return CacheStats(
            size=sum(s.size for s in every),
            max_entries=sum(s.max_entries for s in every),
            ttl_s=max((s.ttl_s for s in every), default=0.0),
            hits=sum(s.hits for s in every),
            misses=sum(s.misses for s in every),
            errors=sum(s.errors for s in every),
        )

    async def clear(self) -> None:
        for _, cache in self._caches.values():
            await cache.clear()


def bounded_caches(*, max_entries: int, ttl_s: float) -> Caches:
    """In-process caches, one per namespace, each of at most ``max_entries`` for ``ttl_s``."""
    return Caches(lambda _namespace, _model: BoundedCache(max_entries=max_entries, ttl_s=ttl_s))


def cache_of(namespace: str, model: type[M]) -> Callable[[Request], Awaitable[Cache[M]]]:
    """The dependency that gives the cache of ``namespace``, holding ``model`` values."""

    async def get_cache(request: Request) -> Cache[M]:
        # async: FastAPI runs a plain-def dependency in its thread pool, a hop per request
        caches: Caches = request.state.resources.cache
        return caches.of(namespace, model)

    get_cache.__name__ = f"get_{namespace}_cache"
    return get_cache

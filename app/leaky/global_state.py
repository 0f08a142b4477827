"""global-state: a module-level dict that every read adds to and nothing ever empties.

The anti-pattern: ``_ITEMS: dict = {}`` at module level, used as a cache. It has no size bound
and no expiry, it is shared by every app in the process (tests included), and each worker grows
its own copy.

Retained: one ``ItemRead`` (with its strings and datetimes) per distinct item ever read, for the
life of the process. Invalidation still works, so the data is right; only the memory is wrong.

Grows: ``/debug/stats`` ``rss_mb``, ``uss_mb`` and ``gc_objects``; ``/debug/growth`` lists
``ItemRead``, ``datetime`` and ``str`` growing. ``/debug/stats`` ``cache.size`` does not move:
it reports the fixed cache, which this twin no longer uses. The growth follows the number of
distinct ids read (a load over a large table grows it with every request).

The fix: ``app/cache.py:BoundedCache`` (an LRU with a TTL, created in ``app/lifespan.py:lifespan``,
provided by ``app/deps.py:get_cache``): at most ``cache_max_entries`` entries per worker.
"""

from __future__ import annotations

from fastapi import FastAPI

from app import deps
from app.cache import CacheStats
from app.leaky.seams import Scenario, override_dependency
from app.schemas import ItemRead

ID = "global-state"

_ITEMS: dict[int | str, ItemRead] = {}


class ModuleCache:
    """The fixed cache's interface over the module-level dict: no bound, no TTL."""

    def __init__(self) -> None:
        self._hits = 0
        self._misses = 0

    async def get(self, key: int | str) -> ItemRead | None:
        value = _ITEMS.get(key)
        if value is None:
            self._misses += 1
        else:
            self._hits += 1
        return value

    async def put(self, key: int | str, value: ItemRead) -> None:
        _ITEMS[key] = value

    async def invalidate(self, key: int | str) -> None:
        _ITEMS.pop(key, None)

    async def clear(self) -> None:
        _ITEMS.clear()

    async def stats(self) -> CacheStats:
        return CacheStats(len(_ITEMS), 0, float("inf"), self._hits, self._misses)


_CACHE = ModuleCache()


def get_cache() -> ModuleCache:
    return _CACHE


def install(app: FastAPI) -> None:
    override_dependency(app, deps.get_cache, get_cache)


async def release(_app: FastAPI) -> None:
    """For tests: empty the module-level dict (it outlives every app)."""
    await _CACHE.clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items/{id}",
    leaks="one cached ItemRead per distinct item read, in a module-level dict, forever",
    signal="rss_mb, gc_objects; /debug/growth: ItemRead",
    fix="app/cache.py:BoundedCache",
    install=install,
    release=release,
)

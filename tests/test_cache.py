"""The cache contract: the in-process backend and the Redis backend pass the same tests.
Each resource gets a cache of its own, with its own keys and bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import BaseModel

from app.cache import BoundedCache, Cache, Caches, bounded_caches
from app.redis_cache import RedisCache
from tests.support import redis_server


class Entry(BaseModel):
    value: int


class Other(BaseModel):
    label: str


CacheFactory = Callable[..., Cache[Entry]]


@pytest.fixture(params=["in-process", "redis"])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[CacheFactory]:
    if request.param == "in-process":
        yield lambda *, max_entries, ttl_s: BoundedCache[Entry](
            max_entries=max_entries, ttl_s=ttl_s
        )
        return
    client = await redis_server.connect_or_skip()
    made: list[RedisCache[Entry]] = []

    def make(*, max_entries: int, ttl_s: float) -> Cache[Entry]:
        prefix = redis_server.unique_prefix()
        made.append(RedisCache(client, Entry, prefix=prefix, max_entries=max_entries, ttl_s=ttl_s))
        return made[-1]

    try:
        yield make
    finally:
        for cache in made:
            await cache.clear()
        await client.aclose()


async def test_cache_never_holds_more_than_its_bound(make_cache: CacheFactory) -> None:
    cache = make_cache(max_entries=100, ttl_s=60)
    for key in range(10_000):
        await cache.put(key, Entry(value=key))
    assert (await cache.stats()).size == 100
    assert await cache.get(9_999) == Entry(value=9_999)
    assert await cache.get(0) is None


async def test_entries_expire_after_the_ttl(make_cache: CacheFactory) -> None:
    cache = make_cache(max_entries=10, ttl_s=0.05)
    await cache.put("k", Entry(value=1))
    assert await cache.get("k") == Entry(value=1)
    await asyncio.sleep(0.1)
    assert await cache.get("k") is None
    assert (await cache.stats()).size == 0


async def test_stats_count_hits_and_misses_and_invalidation_forgets(
    make_cache: CacheFactory,
) -> None:
    cache = make_cache(max_entries=10, ttl_s=60)
    await cache.put("a", Entry(value=1))
    await cache.get("a")
    await cache.get("b")
    await cache.invalidate("a")
    await cache.get("a")
    stats = await cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (1, 2, 0)


async def test_a_zero_sized_cache_stores_nothing(make_cache: CacheFactory) -> None:
    cache = make_cache(max_entries=0, ttl_s=60)
    await cache.put("a", Entry(value=1))
    assert await cache.get("a") is None
    assert (await cache.stats()).size == 0


async def test_clear_forgets_everything(make_cache: CacheFactory) -> None:
    cache = make_cache(max_entries=10, ttl_s=60)
    for key in range(5):
        await cache.put(key, Entry(value=key))
    await cache.clear()
    assert (await cache.stats()).size == 0
    assert await cache.get(1) is None


async def test_each_namespace_has_its_own_keys_and_bound(make_cache: CacheFactory) -> None:
    caches = Caches(lambda _namespace, _model: make_cache(max_entries=3, ttl_s=60))
    items, orders = caches.of("items", Entry), caches.of("orders", Entry)
    assert caches.of("items", Entry) is items
    for key in range(10):
        await items.put(key, Entry(value=key))
    await orders.put(1, Entry(value=-1))
    assert await items.get(1) is None  # evicted from items' three, not from orders'
    assert await orders.get(1) == Entry(value=-1)
    assert await items.get(9) == Entry(value=9)
    stats = await caches.stats()
    assert (stats.size, stats.max_entries, stats.hits, stats.misses) == (4, 6, 2, 1)
    await caches.clear()
    assert (await caches.stats()).size == 0


def test_a_namespace_asked_for_with_another_model_is_refused() -> None:
    caches = bounded_caches(max_entries=10, ttl_s=60)
    caches.of("items", Entry)
    with pytest.raises(TypeError, match="'items' holds Entry, not Other"):
        caches.of("items", Other)

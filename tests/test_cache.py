from __future__ import annotations

import time

from app.cache import BoundedCache


def test_cache_never_holds_more_than_its_bound() -> None:
    cache: BoundedCache[int] = BoundedCache(max_entries=100, ttl_s=60)
    for key in range(10_000):
        cache.put(key, key)
    assert cache.stats().size == 100
    assert cache.get(9_999) == 9_999
    assert cache.get(0) is None


def test_entries_expire_after_the_ttl() -> None:
    cache: BoundedCache[str] = BoundedCache(max_entries=10, ttl_s=0.05)
    cache.put("k", "v")
    assert cache.get("k") == "v"
    time.sleep(0.1)
    assert cache.get("k") is None


def test_stats_count_hits_and_misses_and_invalidation_forgets() -> None:
    cache: BoundedCache[str] = BoundedCache(max_entries=10, ttl_s=60)
    cache.put("a", "1")
    cache.get("a")
    cache.get("b")
    cache.invalidate("a")
    cache.get("a")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (1, 2, 0)


def test_a_zero_sized_cache_stores_nothing() -> None:
    cache: BoundedCache[str] = BoundedCache(max_entries=0, ttl_s=60)
    cache.put("a", "1")
    assert cache.get("a") is None
    assert cache.stats().size == 0

"""What only the shared backend does: one copy for every worker, a budget that holds under
racing writers, a client that the lifespan closes, a Redis outage that costs only misses, and
no cost at all to a worker that does not use it."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import BaseModel
from redis.asyncio import Redis

from app.main import create_app
from app.redis_cache import RedisCache, create_client, redis_caches
from app.schemas import ItemRead
from app.settings import load_settings
from tests.support import redis_server
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of
from tests.support.servers import free_port


class Entry(BaseModel):
    value: int


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = await redis_server.connect_or_skip()
    yield redis
    await redis.aclose()


@pytest.fixture
async def prefix(client: Redis) -> AsyncIterator[str]:
    name = redis_server.unique_prefix()
    yield name
    leftover = await redis_server.keys_under(client, name)
    if leftover:
        await client.delete(*leftover)


def worker_cache(client: Redis, prefix: str, max_entries: int = 100) -> RedisCache[Entry]:
    """One worker's view: several of these on one prefix are several workers on one Redis."""
    return RedisCache(client, Entry, prefix=prefix, max_entries=max_entries, ttl_s=60)


async def test_workers_share_entries_and_an_invalidation_reaches_all(
    client: Redis, prefix: str
) -> None:
    first, second = worker_cache(client, prefix), worker_cache(client, prefix)
    await first.put(7, Entry(value=7))
    assert await second.get(7) == Entry(value=7)
    await second.invalidate(7)
    assert await first.get(7) is None
    assert ((await first.stats()).hits, (await second.stats()).hits) == (0, 1)


async def test_the_key_budget_holds_when_workers_race_to_write(client: Redis, prefix: str) -> None:
    workers = [worker_cache(client, prefix, max_entries=50) for _ in range(4)]

    async def write(cache: RedisCache[Entry], start: int) -> None:
        for key in range(start, start + 500):
            await cache.put(key, Entry(value=key))

    await asyncio.gather(*(write(cache, n * 500) for n, cache in enumerate(workers)))
    assert (await workers[0].stats()).size == 50
    # no entry outlives its eviction: 50 entries plus the index is every key of the prefix
    assert len(await redis_server.keys_under(client, prefix)) == 51


async def test_the_index_expires_with_its_entries(client: Redis, prefix: str) -> None:
    cache = RedisCache(client, Entry, prefix=prefix, max_entries=10, ttl_s=0.05)
    await cache.put(1, Entry(value=1))
    assert await redis_server.keys_under(client, prefix)
    await asyncio.sleep(0.15)
    assert await redis_server.keys_under(client, prefix) == []


async def test_a_value_the_model_no_longer_accepts_is_a_miss_and_is_dropped(
    client: Redis, prefix: str
) -> None:
    cache = worker_cache(client, prefix)
    await cache.put(3, Entry(value=3))
    await client.set(f"{{{prefix}}}:3", b'{"value": "not a number"}')  # an older model's shape
    assert await cache.get(3) is None
    assert await client.exists(f"{{{prefix}}}:3") == 0
    assert (await cache.stats()).misses == 1


async def test_an_unreachable_redis_costs_misses_not_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # a port nothing listens on
    unreachable = create_client(nobody, max_connections=2, timeout_s=0.2, name="leakproof-test")
    cache = RedisCache(unreachable, Entry, prefix="unreachable", max_entries=10, ttl_s=60)
    try:
        with caplog.at_level(logging.WARNING, logger="app.redis_cache"):
            for key in range(5):
                await cache.put(key, Entry(value=key))
                assert await cache.get(key) is None
                await cache.invalidate(key)
            stats = await cache.stats()
            assert not await cache.reachable()
    finally:
        await unreachable.aclose()
    assert (stats.misses, stats.errors, stats.size) == (5, 16, 0)
    # once per outage, not once per request: a down cache must not flood the logs
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_each_namespace_is_kept_under_a_prefix_of_its_own(client: Redis, prefix: str) -> None:
    caches = redis_caches(client, prefix=prefix, max_entries=2, ttl_s=60)
    items, orders = caches.of("items", Entry), caches.of("orders", Entry)
    for key in range(5):
        await items.put(key, Entry(value=key))
    await orders.put(1, Entry(value=-1))
    assert await orders.get(1) == Entry(value=-1)
    assert await redis_server.keys_under(client, f"{prefix}:orders") != []
    assert len(await redis_server.keys_under(client, f"{prefix}:items")) == 3  # two and the index
    assert (await caches.stats()).size == 3
    await caches.clear()
    assert await redis_server.keys_under(client, f"{prefix}:items") == []


async def connected_names(client: Redis) -> list[str]:
    return [str(entry.get("name", "")) for entry in await client.client_list()]


async def test_the_app_shares_items_through_redis_and_closes_its_client_on_shutdown(
    client: Redis, prefix: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        cache_url=redis_server.TEST_REDIS_URL, cache_key_prefix=prefix, metrics_refresh_s=0
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            item = (await http.post("/items", json={"name": "shared", "price": 1})).json()
            for _ in range(3):
                assert (await http.get(f"/items/{item['id']}")).json() == item
            cache = resources_of(manager).cache.of("items", ItemRead)
            assert isinstance(cache, RedisCache)
            assert ((await cache.stats()).hits, (await cache.stats()).misses) == (2, 1)
            # another replica would read it from here: under the app's prefix, in items'
            assert await client.exists(f"{{{prefix}:leakproof:items}}:{item['id']}") == 1
            patched = await http.patch(f"/items/{item['id']}", json={"price": 2})
            assert (await http.get(f"/items/{item['id']}")).json() == patched.json()
            debug = (await http.get("/debug/stats")).json()
            assert debug["cache"]["size"] == 1
            assert any(name.startswith("leakproof:") for name in await connected_names(client))
            await cache.clear()
    # the lifespan closed the client: none of the app's connections is left on the server
    assert not any(name.startswith("leakproof:") for name in await connected_names(client))


def test_a_cache_url_that_is_not_redis_names_the_setting() -> None:
    from app.settings import SettingsError

    with pytest.raises(SettingsError, match="LEAKPROOF_CACHE_URL") as error:
        load_settings(_env_file=None, cache_url="http://cache:6379")
    assert "redis://" in str(error.value)


def test_a_worker_with_the_in_process_cache_never_imports_redis() -> None:
    # importing redis costs each worker 5.8 MB; only a configured cache_url pays for it
    code = "import sys, app.main; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

"""The shared cache: the same interface as ``BoundedCache``, kept in Redis for every worker.

Several workers (and replicas) with an in-process cache hold one copy each: memory multiplies
and an update in one worker leaves stale copies in the others until their TTL. One Redis holds
one copy for all of them.

Bounded twice, without relying on the server's ``maxmemory``:
- every entry is written with a TTL (``SET ... PX``), so nothing outlives ``ttl_s``;
- a sorted set (the index) scores each entry by its write time. Each put runs one Lua script
  that writes the entry, drops index members older than the TTL, and evicts the oldest
  written entries beyond ``max_entries``. The script runs atomically, so workers racing on
  puts never leave more than the budget. The clock is the server's (``TIME``), so workers on
  hosts with skewed clocks agree.
Eviction is oldest-written first, not least-recently-read: a read would otherwise be a write.

One ``RedisCache`` per namespace (``redis_caches``): each resource has its own keys, index and
budget under the configured prefix.

Values are pydantic models, stored as their JSON. A value that no longer validates (the model
changed in a deploy) is deleted and counted as a miss. Hits, misses and errors are counted per
worker, like the in-process cache; ``size`` is the shared count. An unreachable or slow Redis
makes reads miss and writes no-ops, logged once per outage: the database still answers, and an
invalidation that could not reach Redis is bounded in staleness by the TTL.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.cache import Cache, Caches, CacheStats

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
SCAN_BATCH = 500

_NOW_MS = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl_ms = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - ttl_ms)
"""
# KEYS[1]: the index, KEYS[2]: the entry; ARGV: ttl_ms, max_entries, value
PUT_SCRIPT = (
    _NOW_MS
    + """
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl_ms)
redis.call('ZADD', KEYS[1], now_ms, KEYS[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return redis.call('ZCARD', KEYS[1])
"""
)
# KEYS[1]: the index; ARGV: ttl_ms
SIZE_SCRIPT = _NOW_MS + "return redis.call('ZCARD', KEYS[1])\n"


def create_client(url: str, *, max_connections: int, timeout_s: float, name: str) -> Redis:
    """An async client whose pool is bounded (redis-py's default pool is not) and fails fast.

    A request that finds all ``max_connections`` busy waits ``timeout_s`` and then counts as a
    cache error; one retry without backoff covers a pooled connection that Redis closed.
    ``name`` is set on each connection, so Redis's CLIENT LIST shows which worker holds it.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        client_name=name,
    )
    return Redis.from_pool(pool)


class RedisCache(Generic[M]):
    """At most ``max_entries`` values of ``model`` shared in Redis, each for ``ttl_s`` seconds."""

    def __init__(
        self,
        client: Redis,
        model: type[M],
        *,
        prefix: str,
        max_entries: int,
        ttl_s: float,
    ) -> None:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"cache key prefix {prefix!r}: use letters, digits and _ . : -")
        self._client = client
        self._model = model
        # the braces are a hash tag: in a Redis Cluster every key of this cache is on one node,
        # which the scripts need
        self._keys = f"{{{prefix}}}:"
        self._index = f"{self._keys}index"
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._put = client.register_script(PUT_SCRIPT)
        self._size = client.register_script(SIZE_SCRIPT)
        self._hits = 0
        self._misses = 0
        self._errors = 0
        self._failing = False

    def _key(self, key: int | str) -> str:
        return f"{self._keys}{key}"

    async def get(self, key: int | str) -> M | None:
        raw: bytes | str | None = None
        if self._max_entries:
            try:
                raw = await self._client.get(self._key(key))
            except RedisError as error:
                self._failed("get", error)
            else:
                self._recovered()
        value = self._decode(raw)
        if value is None:
            self._misses += 1
            if raw is not None:  # stored by an older version of the model: drop it
                await self.invalidate(key)
        else:
            self._hits += 1
        return value

    def _decode(self, raw: bytes | str | None) -> M | None:
        if raw is None:
            return None
        try:
            return self._model.model_validate_json(raw)
        except ValidationError:
            return None

    async def put(self, key: int | str, value: M) -> None:
        if not self._max_entries:
            return
        keys = [self._index, self._key(key)]
        args: list[int | str] = [self._ttl_ms, self._max_entries, value.model_dump_json()]
        try:
            await self._put(keys=keys, args=args)
        except RedisError as error:
            self._failed("put", error)
        else:
            self._recovered()

    async def invalidate(self, key: int | str) -> None:
        entry = self._key(key)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(entry)
                pipe.zrem(self._index, entry)
                await pipe.execute()
        except RedisError as error:
            self._failed("invalidate", error)
        else:
            self._recovered()

    async def clear(self) -> None:
        """Delete every key of this cache (its prefix), index included."""
        batch: list[bytes] = []
        async for name in self._client.scan_iter(match=f"{self._keys}*", count=SCAN_BATCH):
            batch.append(name)
            if len(batch) >= SCAN_BATCH:
                await self._client.delete(*batch)
                batch.clear()
        if batch:
            await self._client.delete(*batch)

    async def stats(self) -> CacheStats:
        size = 0
        if self._max_entries:
            try:
                size = int(await self._size(keys=[self._index], args=[self._ttl_ms]))
            except RedisError as error:
                self._failed("stats", error)
        return CacheStats(
            size, self._max_entries, self._ttl_s, self._hits, self._misses, self._errors
        )

    async def reachable(self) -> bool:
        return await is_reachable(self._client)

    def _failed(self, operation: str, error: RedisError) -> None:
        self._errors += 1
        if not self._failing:  # once per outage, not once per request
            self._failing = True
            logger.warning(
                "Redis cache %s failed (%s: %s): reads miss and writes are skipped until it "
                "answers; check LEAKPROOF_CACHE_URL and that Redis is up",
                operation,
                type(error).__name__,
                error,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("Redis cache answers again")


def redis_caches(client: Redis, *, prefix: str, max_entries: int, ttl_s: float) -> Caches:
    """Shared caches, one per namespace, under ``prefix:namespace``; each of at most
    ``max_entries`` values for ``ttl_s`` seconds."""

    def make(namespace: str, model: type[BaseModel]) -> Cache[Any]:
        return RedisCache(
            client, model, prefix=f"{prefix}:{namespace}", max_entries=max_entries, ttl_s=ttl_s
        )

    return Caches(make)


async def is_reachable(client: Redis) -> bool:
    try:
        return bool(await client.ping())
    except RedisError:
        return False

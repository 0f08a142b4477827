"""The Redis the cache tests run against: 127.0.0.1:6379, or LEAKPROOF_TEST_REDIS_URL.

Every test gets keys under a prefix of its own (a run id plus a counter), so runs side by side
and a Redis shared with other users never see each other's keys; the tests delete them after.
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.redis_cache import create_client

TEST_REDIS_URL_ENV = "LEAKPROOF_TEST_REDIS_URL"
TEST_REDIS_URL = os.environ.get(TEST_REDIS_URL_ENV, "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:12]
_counter = itertools.count()


def unique_prefix() -> str:
    return f"leakproof-test-{RUN_ID}-{next(_counter)}"


async def connect_or_skip(*, timeout_s: float = 2.0) -> Redis:
    """A client to the test Redis; the test skips, saying why, when none answers."""
    client = create_client(
        TEST_REDIS_URL, max_connections=20, timeout_s=timeout_s, name=f"leakproof-test-{RUN_ID}"
    )
    try:
        await client.ping()
    except RedisError as error:
        await client.aclose()
        pytest.skip(
            f"no Redis answers at {TEST_REDIS_URL} ({type(error).__name__}): start one there "
            f"or set {TEST_REDIS_URL_ENV} to run the Redis cache backend tests"
        )
    return client


async def keys_under(client: Redis, prefix: str) -> list[bytes]:
    return [key async for key in client.scan_iter(match=f"{{{prefix}}}:*", count=500)]

"""di-singleton: lru_cache on a dependency keyed by the Request keeps every Request alive.

Mechanism: each request is a new cache key and the cache holds its keys, so the live Request
objects grow by one per request. The fix's dependency keeps nothing: after a collection no
Request is left.
"""

from __future__ import annotations

import pytest
from starlette.requests import Request

from app.leaky.di_singleton import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import live_instances
from tests.support.leakcheck import LeakCheck

REQUESTS, WARMUP = 20, 4
REASON = "the twin's lru_cache keeps every Request as a key"


@pytest.mark.parametrize("build", builds(REASON))
async def test_dependencies_do_not_leak_requests_when_probed_repeatedly(
    build: str, start_build: Start, leak_check: LeakCheck
) -> None:
    async with start_build(build, ID) as running:

        async def probe(_index: int) -> None:
            response = await running.client.get("/health/ready")
            assert response.status_code == 200, response.text

        await leak_check(
            probe,
            lambda: live_instances(Request),
            times=REQUESTS,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one kept Request per request is 1
            name="live Request objects",
        )

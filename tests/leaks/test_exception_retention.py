"""exception-retention: the twin's error hook keeps every rejected request's exc_info.

Mechanism: each 422 hands ``sys.exc_info()`` to a reporter that keeps it, so the live traceback
objects (each chain holding its frames) grow with every rejected request. The fix answers and
keeps nothing: once the response is sent, the exception and its traceback are garbage and the
count stays put.
"""

from __future__ import annotations

from types import TracebackType

import pytest

from app.leaky.exception_retention import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import live_instances
from tests.support.leakcheck import LeakCheck

REQUESTS, WARMUP = 24, 4
REASON = "the twin's error reporter keeps each exception's traceback, and so its frames"
INVALID = {"name": "lamp", "description": "a long description " * 50, "price": -1}


@pytest.mark.parametrize("build", builds(REASON))
async def test_rejected_requests_do_not_leak_their_exceptions(
    build: str, start_build: Start, leak_check: LeakCheck
) -> None:
    async with start_build(build, ID) as running:

        async def reject(_index: int) -> None:
            response = await running.client.post("/items", json=INVALID)
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["loc"] == ["body", "price"]

        await leak_check(
            reject,
            lambda: live_instances(TracebackType),
            times=REQUESTS,
            warmup=WARMUP,
            # a kept chain is at least one traceback (three here) per rejected request
            max_growth_per_action=0.25,
            every=4,
            name="live traceback objects",
        )

"""The admission limit: requests past the limit wait their turn in arrival order, past the queue
they get 503 with Retry-After at once (counted in /metrics), and probes never wait. The app
tests run on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.serving.admission import AdmissionLimit, Turns
from tests.support.fixtures import SettingsFactory


async def test_turns_are_handed_over_in_arrival_order() -> None:
    turns = Turns(max_active=1, max_queued=10)
    assert await turns.acquire()
    served: list[int] = []

    async def request(number: int) -> None:
        assert await turns.acquire()
        served.append(number)
        turns.release()

    waiting = [asyncio.create_task(request(number)) for number in range(5)]
    await asyncio.sleep(0.01)
    assert served == []
    assert turns.waiting == 5
    turns.release()
    await asyncio.gather(*waiting)
    assert served == [0, 1, 2, 3, 4]
    assert (turns.active, turns.waiting) == (0, 0)


async def test_a_newcomer_does_not_overtake_the_queue() -> None:
    turns = Turns(max_active=1, max_queued=10)
    assert await turns.acquire()
    waiter = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    turns.release()  # handed to the waiter, which has not run yet
    newcomer = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0.01)
    assert waiter.done()
    assert not newcomer.done()  # it waits behind the one that came first
    turns.release()
    assert await newcomer
    turns.release()
    assert turns.active == 0


async def test_past_the_queue_a_request_is_refused_at_once() -> None:
    turns = Turns(max_active=1, max_queued=1)
    assert await turns.acquire()
    queued = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    assert not await turns.acquire()
    assert turns.shed == 1
    turns.release()
    assert await queued
    turns.release()
    assert turns.active == 0


async def test_a_waiter_gives_up_after_its_patience_and_is_skipped() -> None:
    turns = Turns(max_active=1, max_queued=10, patience_s=0.05)
    assert await turns.acquire()
    began = asyncio.get_running_loop().time()
    assert not await turns.acquire()  # nobody released the turn in time
    assert asyncio.get_running_loop().time() - began < 1
    assert turns.shed == 1
    assert turns.waiting == 0
    turns.release()  # nobody to hand it to: the turn is free again
    assert turns.active == 0


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = Turns(max_active=1, max_queued=10)
    assert await turns.acquire()
    first = asyncio.create_task(turns.acquire())
    second = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    turns.release()  # handed to the first, cancelled before it runs
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second
    turns.release()
    assert (turns.active, turns.waiting) == (0, 0)


@pytest.fixture
async def one_at_a_time(make_settings: SettingsFactory) -> AsyncIterator[FastAPI]:
    """The app with one request at a time and one place in the queue."""
    app = create_app(make_settings(max_active_requests=1, max_queued_requests=1))
    async with LifespanManager(app) as manager:
        app.state.lifespan_app = manager.app
        yield app


def shed_count(metrics_text: str) -> float:
    return next(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "leakproof_http_requests_shed_total"
    )


async def test_the_app_queues_then_sheds_with_retry_after_and_counts_it(
    one_at_a_time: FastAPI,
) -> None:
    turns: Turns = one_at_a_time.state.turns
    transport = httpx.ASGITransport(app=one_at_a_time.state.lifespan_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert await turns.acquire()  # the one turn is taken, as by a request in progress
        queued = asyncio.create_task(client.get("/items/1"))
        await asyncio.sleep(0.05)
        assert not queued.done()
        assert turns.waiting == 1
        refused = await client.get("/items/2")
        assert refused.status_code == 503
        assert refused.headers["retry-after"].isdigit()
        assert "busy" in refused.json()["detail"]
        # probes and the scrape never wait, however full the queue
        assert (await client.get("/health/ready")).status_code == 200
        assert shed_count((await client.get("/metrics")).text) == 1
        turns.release()
        assert (await queued).status_code == 404  # served (no such item) once its turn came
    assert (turns.active, turns.waiting) == (0, 0)


def middleware_classes(app: FastAPI) -> list[object]:
    return [middleware.cls for middleware in app.user_middleware]


def test_the_limit_is_sized_from_the_pool_and_zero_turns_it_off(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(db_pool_size=10, db_max_overflow=5)
    assert settings.active_request_limit == 15
    app = create_app(settings)
    assert AdmissionLimit in middleware_classes(app)
    assert app.state.turns.max_active == 15
    assert app.state.turns.patience_s == settings.db_pool_timeout_s
    unlimited = create_app(make_settings(max_active_requests=0))
    assert AdmissionLimit not in middleware_classes(unlimited)

"""POST /items/{id}/notify: the item's event reaches the webhook through the lifespan's client,
and every way the receiver can fail is a clear 502, 503 or 504."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import SettingsError, load_settings
from tests.support.database import connected, truncate_tables
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of
from tests.support.servers import free_port  # nothing listens there: a closed port
from tests.support.webhook_receiver import webhook_receiver

Serve = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Any]]]


async def seed_item(url: str) -> int:
    async with connected(url) as connection:
        item_id: int = await connection.fetchval(
            "INSERT INTO items (name, description, price) VALUES ('item-1', 'a lamp', 1) "
            "RETURNING id"
        )
    return item_id


@pytest.fixture
def serve(make_settings: SettingsFactory, database_url: str) -> Serve:
    """``async with serve(**settings) as (client, resources)``: the fixed app, one item."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        app = create_app(make_settings(**overrides))
        try:
            async with LifespanManager(app) as manager:
                resources = resources_of(manager)
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    yield client, resources
        finally:
            await truncate_tables(database_url)

    return start


async def test_the_event_reaches_the_receiver_and_the_client_is_closed_at_shutdown(
    serve: Serve, database_url: str
) -> None:
    item_id = await seed_item(database_url)
    with webhook_receiver(status=204) as receiver:
        async with serve(webhook_url=receiver.url) as (client, resources):
            response = await client.post(f"/items/{item_id}/notify")
            webhook_client = resources.webhook_client
            assert not webhook_client.is_closed
        assert webhook_client.is_closed  # the lifespan closed it
    assert response.status_code == 200, response.text
    assert response.json() == {"item_id": item_id, "receiver_status": 204}
    [event] = receiver.events
    assert event["event"] == "item.notify"
    assert event["item"]["id"] == item_id
    assert event["item"]["name"] == "item-1"


async def test_without_a_webhook_notify_is_a_503_naming_the_setting(
    serve: Serve, database_url: str
) -> None:
    item_id = await seed_item(database_url)
    async with serve() as (client, resources):
        response = await client.post(f"/items/{item_id}/notify")
    assert resources.webhook_client is None
    assert response.status_code == 503
    assert "LEAKPROOF_WEBHOOK_URL" in response.json()["detail"]


async def test_a_missing_item_is_a_404_and_nothing_is_sent(serve: Serve) -> None:
    with webhook_receiver() as receiver:
        async with serve(webhook_url=receiver.url) as (client, _):
            response = await client.post("/items/424242/notify")
    assert response.status_code == 404
    assert response.json()["detail"] == "item 424242 not found"
    assert receiver.events == []


async def test_a_receiver_that_fails_is_a_502_with_its_status(
    serve: Serve, database_url: str
) -> None:
    item_id = await seed_item(database_url)
    with webhook_receiver(status=500) as receiver:
        async with serve(webhook_url=receiver.url) as (client, _):
            response = await client.post(f"/items/{item_id}/notify")
    assert response.status_code == 502
    assert response.json()["detail"] == "the webhook receiver answered 500"


async def test_a_slow_receiver_is_a_504_within_the_timeout(serve: Serve, database_url: str) -> None:
    item_id = await seed_item(database_url)
    with webhook_receiver(delay_s=2.0) as receiver:
        async with serve(webhook_url=receiver.url, webhook_timeout_s=0.2) as (client, _):
            response = await client.post(f"/items/{item_id}/notify")
    assert response.status_code == 504
    assert "did not answer in time (ReadTimeout)" in response.json()["detail"]


async def test_an_unreachable_receiver_is_a_502_that_hides_its_url(
    serve: Serve, database_url: str
) -> None:
    item_id = await seed_item(database_url)
    secret_url = f"http://127.0.0.1:{free_port()}/hooks?token=s3cret"
    async with serve(webhook_url=secret_url) as (client, _):
        response = await client.post(f"/items/{item_id}/notify")
    assert response.status_code == 502
    assert response.json()["detail"] == "the webhook receiver could not be reached (ConnectError)"
    assert "s3cret" not in response.text


def test_a_webhook_url_that_is_not_http_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"LEAKPROOF_WEBHOOK_URL.*https://"):
        load_settings(_env_file=None, webhook_url="ftp://files.example/hook")


def test_a_worker_without_a_webhook_never_imports_httpx() -> None:
    # importing httpx costs a worker ~6 MB; only a configured webhook needs it
    env = {key: value for key, value in os.environ.items() if key != "LEAKPROOF_WEBHOOK_URL"}
    code = "import sys, app.main; sys.exit('httpx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0

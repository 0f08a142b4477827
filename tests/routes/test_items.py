from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db import application_name
from app.main import create_app
from app.schemas import ItemRead
from app.settings import Settings
from tests.support.database import connected, end_connections
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of


@pytest.fixture(params=[True, False], ids=["speedups", "plain"])
def make_settings(
    request: pytest.FixtureRequest, make_settings: SettingsFactory
) -> SettingsFactory:
    """Every test here runs on the service with its speed-ups and on the plain one."""
    return functools.partial(make_settings, speedups=request.param)


async def create(client: httpx.AsyncClient, name: str, price: float = 1.0) -> dict[str, object]:
    response = await client.post("/items", json={"name": name, "price": price})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_created_item_reads_back(client: httpx.AsyncClient) -> None:
    created = await create(client, "lamp", 12.5)
    response = await client.get(f"/items/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_duplicate_name_is_a_conflict_with_the_name_in_the_detail(
    client: httpx.AsyncClient,
) -> None:
    await create(client, "lamp")
    response = await client.post("/items", json={"name": "lamp", "price": 2})
    assert response.status_code == 409
    assert response.json() == {"detail": "name 'lamp' is taken; choose another"}


async def test_missing_item_is_404_with_its_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/424242")
    assert response.status_code == 404
    assert response.json() == {"detail": "item 424242 not found"}


async def test_invalid_bodies_are_422(client: httpx.AsyncClient) -> None:
    for body in (
        {"name": "", "price": 1},
        {"name": "x", "price": -1},
        {"name": "x"},
        {"name": "x", "price": 1, "colour": "red"},
        {"name": "x" * 201, "price": 1},
    ):
        response = await client.post("/items", json=body)
        assert response.status_code == 422, body


async def test_patch_changes_fields_and_the_cache_sees_it(client: httpx.AsyncClient) -> None:
    created = await create(client, "chair", 10)
    await client.get(f"/items/{created['id']}")  # cached now
    response = await client.patch(
        f"/items/{created['id']}", json={"price": 11, "description": "oak"}
    )
    assert response.status_code == 200
    assert response.json()["price"] == 11
    reread = (await client.get(f"/items/{created['id']}")).json()
    assert (reread["price"], reread["description"]) == (11, "oak")


async def test_patch_to_a_taken_name_is_409_and_null_name_is_422(client: httpx.AsyncClient) -> None:
    await create(client, "a")
    b = await create(client, "b")
    assert (await client.patch(f"/items/{b['id']}", json={"name": "a"})).status_code == 409
    assert (await client.patch(f"/items/{b['id']}", json={"name": None})).status_code == 422
    assert (await client.patch("/items/999999", json={"price": 1})).status_code == 404


async def test_delete_removes_the_item_and_the_cached_copy(client: httpx.AsyncClient) -> None:
    created = await create(client, "gone")
    await client.get(f"/items/{created['id']}")
    assert (await client.delete(f"/items/{created['id']}")).status_code == 204
    assert (await client.get(f"/items/{created['id']}")).status_code == 404
    assert (await client.delete(f"/items/{created['id']}")).status_code == 404


async def test_pages_walk_every_item_once_by_keyset(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, f"item-{n}"))["id"] for n in range(7)]
    seen: list[object] = []
    after = 0
    while True:
        page = (await client.get("/items", params={"limit": 3, "after": after})).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids


async def test_page_size_is_bounded_by_the_setting(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/items", params={"limit": settings.page_size_max + 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_reads_are_served_from_the_cache_after_the_first(
    client: httpx.AsyncClient, app: object
) -> None:
    created = await create(client, "cached")
    cache = app.state.resources.cache.of("items", ItemRead)  # type: ignore[attr-defined]
    before = await cache.stats()
    for _ in range(3):
        await client.get(f"/items/{created['id']}")
    after = await cache.stats()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 2


async def test_the_cache_is_invalidated_only_after_the_change_is_committed(
    client: httpx.AsyncClient, app: FastAPI, database_url: str
) -> None:
    created = await create(client, "timed", 1)
    cache = app.state.resources.cache.of("items", ItemRead)
    seen_by_others: list[object] = []
    invalidate = cache.invalidate

    async def invalidate_and_look(key: object) -> None:
        # what another connection (another worker's read) sees at the moment of invalidation
        async with connected(database_url) as connection:
            seen_by_others.append(
                await connection.fetchval("SELECT price FROM items WHERE id = $1", created["id"])
            )
        await invalidate(key)

    cache.invalidate = invalidate_and_look
    try:
        await client.patch(f"/items/{created['id']}", json={"price": 2})
        await client.delete(f"/items/{created['id']}")
    finally:
        cache.invalidate = invalidate
    assert seen_by_others == [2, None]  # the new price, then no row at all


async def test_a_nul_character_is_refused_as_bad_input_not_a_database_outage(
    client: httpx.AsyncClient,
) -> None:
    for body in (
        {"name": "a\u0000b", "price": 1},
        {"name": "ok", "description": "x\u0000", "price": 1},
    ):
        response = await client.post("/items", json=body)
        assert response.status_code == 422, response.text
    created = await create(client, "clean")
    patched = await client.patch(f"/items/{created['id']}", json={"name": "nul\u0000"})
    assert patched.status_code == 422


async def test_a_lone_surrogate_is_refused_as_bad_input_not_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    # valid JSON ("\\ud800" escapes half a UTF-16 pair) that no UTF-8 text can hold
    for body in (b'{"name": "x\\ud800y", "price": 1}', b'{"name": "\\u00e9\\udfff", "price": 1}'):
        response = await client.post(
            "/items", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "name"]


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of the test's own settings, running; no connection may be left checked out."""
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        assert resources_of(manager).engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_read_held_past_the_statement_timeout_is_a_503_to_retry(
    make_settings: SettingsFactory, database_url: str
) -> None:
    async with (
        connected(database_url) as locker,
        serving(make_settings(db_statement_timeout_ms=300)) as client,
    ):
        async with locker.transaction():
            await locker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            held = await client.get("/items/424242")
        after = await client.get("/items/424242")
    assert held.status_code == 503
    assert "took too long" in held.json()["detail"]
    assert held.headers["retry-after"]
    assert after.status_code == 404


async def test_a_read_on_a_connection_the_server_ended_is_a_503_and_the_next_is_served(
    make_settings: SettingsFactory, database_url: str
) -> None:
    # one connection and no pre-ping: a dead connection pooled again would fail every read
    async with serving(make_settings(db_pool_size=1, db_max_overflow=0)) as client:
        assert (await client.get("/items/424242")).status_code == 404
        ended = await end_connections(database_url, application_name(make_settings().app_name))
        lost = await client.get("/items/424242")
        after = await client.get("/items/424242")
    assert ended == 1
    assert lost.status_code == 503
    assert "database is unavailable" in lost.json()["detail"]
    assert after.status_code == 404

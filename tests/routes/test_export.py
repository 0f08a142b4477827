from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.support.asgi import read_slowly, read_then_disconnect
from tests.support.database import connected, truncate_tables
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of

ROWS = 2_500


@pytest.fixture
async def many_items(database_url: str) -> int:
    async with connected(database_url) as connection:
        await connection.execute(
            "INSERT INTO items (name, description, price) "
            "SELECT 'item-' || n, "
            "CASE WHEN n % 2 = 0 THEN 'a \"quoted\", line\nbreak' END, n / 100.0 "
            "FROM generate_series(1, $1) AS n",
            ROWS,
        )
    return ROWS


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # small batches so that an export is many chunks, as a large table would be
    return make_settings(export_batch_rows=100, export_max_running=2)


async def test_ndjson_export_streams_every_row_once(
    client: httpx.AsyncClient, many_items: int
) -> None:
    response = await client.get("/items/export", params={"format": "ndjson"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [row["id"] for row in rows] == list(range(1, many_items + 1))
    assert rows[1]["description"] == 'a "quoted", line\nbreak'


async def test_csv_export_is_valid_csv_with_a_header(
    client: httpx.AsyncClient, many_items: int
) -> None:
    response = await client.get("/items/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == many_items
    assert rows[1]["description"] == 'a "quoted", line\nbreak'
    assert rows[-1]["name"] == f"item-{many_items}"


async def test_an_unknown_format_is_422_naming_the_choices(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/export", params={"format": "xml"})
    assert response.status_code == 422
    assert "'ndjson' or 'csv'" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("export_format", ["ndjson", "csv"])
async def test_a_client_that_disconnects_mid_export_does_not_leak_its_connection(
    app: FastAPI, many_items: int, export_format: str
) -> None:
    resources = app.state.resources
    for _ in range(5):
        read = await read_then_disconnect(
            app.state.lifespan_app, "/items/export", f"format={export_format}", chunks=2
        )
        assert read == 2
        assert resources.engine.pool.checkedout() == 0
        assert resources.export_slots.in_use == 0


async def test_exports_beyond_the_cap_get_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    slots = app.state.resources.export_slots
    assert slots.try_acquire()
    assert slots.try_acquire()  # both slots now taken, as by two slow readers
    try:
        response = await client.get("/items/export")
    finally:
        slots.release()
        slots.release()
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "2 exports are already running" in response.json()["detail"]


async def test_the_export_slot_is_released_when_the_client_leaves_before_the_first_chunk(
    settings: Settings, database_url: str
) -> None:
    app = create_app(settings)
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app) as manager:
        state: Any = resources_of(manager)
        await read_then_disconnect(manager.app, "/items/export", "format=csv", chunks=0)
        assert state.export_slots.in_use == 0
        assert state.engine.pool.checkedout() == 0


async def test_a_csv_export_slower_than_the_statement_timeout_still_arrives_whole(
    make_settings: SettingsFactory, database_url: str
) -> None:
    # COPY is one statement: a slow reader holds it open far past the requests' timeout
    rows = 40_000
    async with connected(database_url) as connection:
        await connection.execute(
            "INSERT INTO items (name, description, price) "
            "SELECT 'slow-' || n, repeat('x', 40), 1 FROM generate_series(1, $1) AS n",
            rows,
        )
    from asgi_lifespan import LifespanManager

    app = create_app(make_settings(db_statement_timeout_ms=300))
    try:
        async with LifespanManager(app) as manager:
            body = await read_slowly(manager.app, "/items/export", "format=csv", pause_s=0.05)
            assert resources_of(manager).engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await truncate_tables(database_url)
    lines = body.decode().splitlines()
    assert len(lines) == rows + 1  # the header and every row
    assert lines[-1].startswith(f"{rows},")

"""One setting switches every speed-up on or off, and the service without them is complete.

The plain service's routes are tested with and without the speed-ups (tests/routes/test_items.py
runs twice); here, what ``install`` changes and that nothing else does.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from starlette.requests import Request

from app.deps import get_engine
from app.lifespan import Resources
from app.main import create_app
from app.speedups.fair_pool import FirstComeFirstServedPool
from tests.support.database import truncate_tables
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of

REPO = Path(__file__).resolve().parents[2]
# what app/main.py holds of the room: its import and the one call behind the setting
SWITCH_IMPORT = "from app import speedups\n"
SWITCH_CALL = "    if settings.speedups:\n        speedups.install(app)\n"


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, resources_of(manager)


def count_engine_reads(app: FastAPI) -> list[Request]:
    """Requests that asked for the engine itself: only the driver read does."""
    asked: list[Request] = []

    async def counting(request: Request) -> AsyncEngine:
        asked.append(request)
        return await get_engine(request)

    app.dependency_overrides[get_engine] = counting
    return asked


async def test_on_by_default_they_change_the_pool_the_read_and_the_heap(
    make_settings: SettingsFactory, database_url: str
) -> None:
    app = create_app(make_settings())
    engine_reads = count_engine_reads(app)
    frozen_before = gc.get_freeze_count()
    try:
        async with running(app) as (client, resources):
            assert isinstance(resources.engine.pool, FirstComeFirstServedPool)
            assert gc.get_freeze_count() > frozen_before
            created = await client.post("/items", json={"name": "lamp", "price": 3})
            read = await client.get(f"/items/{created.json()['id']}")
        assert gc.get_freeze_count() == 0  # unfrozen at shutdown
    finally:
        await truncate_tables(database_url)
    assert read.status_code == 200
    assert read.json() == created.json()
    assert len(engine_reads) == 1  # the read went to the driver
    # the plain route stays the documented one
    assert "/items/{item_id}" in app.openapi()["paths"]


async def test_off_the_service_is_plain_sqlalchemy(
    make_settings: SettingsFactory, database_url: str
) -> None:
    app = create_app(make_settings(speedups=False))
    engine_reads = count_engine_reads(app)
    try:
        async with running(app) as (client, resources):
            assert type(resources.engine.pool) is AsyncAdaptedQueuePool
            assert gc.get_freeze_count() == 0
            created = await client.post("/items", json={"name": "lamp", "price": 3})
            read = await client.get(f"/items/{created.json()['id']}")
            missing = await client.get("/items/424242")
    finally:
        await truncate_tables(database_url)
    assert read.json() == created.json()
    assert missing.status_code == 404
    assert engine_reads == []  # both reads went through the session


def test_the_service_imports_and_builds_with_the_room_deleted(tmp_path: Path) -> None:
    """A copy of app/ without app/speedups and the factory's call: the plain service."""
    shutil.copytree(REPO / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(tmp_path / "app" / "speedups")
    main = tmp_path / "app" / "main.py"
    source = main.read_text()
    for line in (SWITCH_IMPORT, SWITCH_CALL):
        assert source.count(line) == 1, line
        source = source.replace(line, "")
    assert "speedups" not in source
    main.write_text(source)
    script = (
        "from app.main import create_app; from app.settings import Settings;"
        "app = create_app(Settings(_env_file=None)); print(len(app.openapi()['paths']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 5

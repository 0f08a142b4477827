"""Fixtures: a real migrated PostgreSQL, the app with its lifespan running, an HTTP client, and
a guard that fails any test leaving a connection checked out or a task running. A plugin
(tests/conftest.py loads it), so any test module may import its types and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.lifespan import Resources
from app.main import create_app
from app.settings import Settings
from tests.support.database import reset_schema, test_database_url, truncate_tables
from tests.support.lifespan_manager import resources_of
from tests.support.servers import kill_leftovers

SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _no_server_outlives_its_test() -> Iterator[None]:
    yield
    kill_leftovers()


@pytest.fixture(scope="session")
def database_url() -> str:
    url = test_database_url()
    reset_schema(url)
    return url


@pytest.fixture
def make_settings(database_url: str) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": database_url, "environment": "dev"}
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        application.state.lifespan_app = manager.app
        application.state.resources = resources_of(manager)
        running_before = asyncio.all_tasks()
        yield application
        await assert_nothing_left_behind(application.state.resources, running_before)
    await truncate_tables(database_url)


async def assert_nothing_left_behind(
    resources: Resources, running_before: set[asyncio.Task[Any]]
) -> None:
    """After a test: every connection back in the pool, no job running, no stray task."""
    for _ in range(50):  # streams and jobs finish on the loop's next turns
        pool: Any = resources.engine.pool
        if pool.checkedout() == 0 and resources.registry.stats().running == 0:
            break
        await asyncio.sleep(0.02)
    pool = resources.engine.pool
    assert pool.checkedout() == 0, f"{pool.checkedout()} connections left checked out"
    assert resources.registry.stats().running == 0, "a job was left running"
    stray = asyncio.all_tasks() - running_before - {asyncio.current_task()}
    assert not stray, f"tasks left running: {stray}"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.state.lifespan_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http

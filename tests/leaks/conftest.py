"""Fixtures for the proofs: either build, started on the real PostgreSQL, torn down clean.

The fixed build is checked by the suite's own guard (no connection checked out, no task left).
The twin cannot pass that guard (leaking is its job), so its teardown first hands back what the
scenario kept (``app.leaky.main.release_leaks``: sessions closed, tasks cancelled, engines
disposed) and only then stops the lifespan, so nothing leaks into the next test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from app.db import application_name
from app.leaky.main import create_leaky_app, release_leaks
from app.lifespan import Resources
from app.main import create_app
from tests.support.database import truncate_tables
from tests.support.fixtures import SettingsFactory, assert_nothing_left_behind
from tests.support.leakcheck import LeakError, leak_check
from tests.support.lifespan_manager import resources_of

__all__ = ["leak_check"]

FIXED, LEAKY = "fixed", "leaky"


def builds(reason: str) -> list[Any]:
    """Parametrize a proof over both builds: it passes on the fixed one and must fail on the
    twin (strict xfail), which proves the detector sees the leak it guards against."""
    twin_fails = pytest.mark.xfail(strict=True, raises=LeakError, reason=reason)
    return [FIXED, pytest.param(LEAKY, marks=twin_fails)]


@dataclass
class Running:
    build: str
    app: FastAPI
    asgi: ASGIApp  # the app with the lifespan's state, for driving it without a client
    client: httpx.AsyncClient
    resources: Resources
    application_name: str  # how pg_stat_activity names this build's connections

    def checked_out(self) -> int:
        pool: Any = self.resources.engine.pool
        return int(pool.checkedout())


Start = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def start_build(make_settings: SettingsFactory, database_url: str) -> Start:
    """``async with start_build(build, leak, **settings) as running:`` one build, one leak."""

    @asynccontextmanager
    async def start(build: str, leak: str, **overrides: Any) -> AsyncIterator[Running]:
        settings = make_settings(**overrides)
        app = create_app(settings) if build == FIXED else create_leaky_app(settings, [leak])
        try:
            async with LifespanManager(app) as manager:
                running_before = asyncio.all_tasks()
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    running = Running(
                        build=build,
                        app=app,
                        asgi=manager.app,
                        client=client,
                        resources=resources_of(manager),
                        application_name=application_name(app.state.settings.app_name),
                    )
                    try:
                        yield running
                    finally:
                        if build == LEAKY:
                            await release_leaks(app)
                if build == FIXED:
                    await assert_nothing_left_behind(running.resources, running_before)
        finally:
            await truncate_tables(database_url)

    return start

"""An app whose database does not answer (a closed loopback port): every request that reached
the database would fail, so a 413 or 422 proves the request was refused before that."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings

# secrets with a shape that occurs nowhere else, so finding them anywhere is a leak
DATABASE_PASSWORD = "pw-4f9c2e7a1b6d"
DEBUG_TOKEN = "tok-8d3b6a0c5e2f"
UNREACHABLE_URL = f"postgresql://leakproof:{DATABASE_PASSWORD}@127.0.0.1:1/leakproof"


def unreachable_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": UNREACHABLE_URL,
        "environment": "prod",
        "debug_token": DEBUG_TOKEN,
        "db_pool_timeout_s": 1.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def offline_client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(unreachable_settings())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

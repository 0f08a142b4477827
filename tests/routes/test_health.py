from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from tests.support.fixtures import SettingsFactory
from tests.support.servers import free_port  # nothing listens there: a closed port


async def test_live_and_ready_answer_ok_with_the_database_up(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    assert (await client.get("/health/ready")).status_code == 200


async def test_without_a_database_ready_is_503_and_requests_fail_fast_with_a_clear_503(
    make_settings: SettingsFactory,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(make_settings(database_url=url, db_pool_timeout_s=1))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health/live")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            read = await client.get("/items/1")
            assert read.status_code == 503
            assert "retry" in read.json()["detail"]
            assert read.headers["retry-after"]

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings


async def test_metrics_expose_process_memory_and_the_leak_gauges(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "process_resident_memory_bytes",
        "leakproof_asyncio_tasks",
        "leakproof_db_pool_checked_out",
        "leakproof_cache_entries",
        "leakproof_jobs_running",
    ):
        assert f"\n{name} " in text or text.startswith(f"{name} "), name


async def test_two_apps_in_one_process_keep_separate_metrics(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # a module-level registry would raise "Duplicated timeseries" for the second app
    other = create_app(settings)
    async with LifespanManager(other) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as second:
            assert (await second.get("/metrics")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200

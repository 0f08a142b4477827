from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from tests.support.fixtures import SettingsFactory
from tests.support.lifespan_manager import resources_of


async def test_stats_report_process_pool_and_database_figures(client: httpx.AsyncClient) -> None:
    stats = (await client.get("/debug/stats")).json()
    assert stats["app_name"] == "leakproof"
    assert stats["rss_mb"] > 0
    assert stats["pool"]["checked_out"] == 0
    assert stats["pg_stat_activity"]["process"] >= 1  # the query's own connection
    assert stats["asyncio_tasks"] >= 1
    assert {"hits", "misses", "size"} <= set(stats["cache"])
    assert "database_url" not in str(stats)


class RetainedForTheTest:
    """A type nothing else creates, so its growth is exactly what the test retains."""


async def test_growth_names_the_type_retained_since_the_previous_call(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/debug/growth")  # the baseline
    retained = [RetainedForTheTest() for _ in range(500)]
    grown = (await client.get("/debug/growth")).json()["objects"]
    entry = next(e for e in grown if e["type"] == "RetainedForTheTest")
    assert entry["delta"] == len(retained)
    again = (await client.get("/debug/growth")).json()["objects"]
    assert "RetainedForTheTest" not in {e["type"] for e in again}  # no new growth, no report


async def open_debug(
    make_settings: SettingsFactory, headers: dict[str, str], **overrides: object
) -> int:
    app = create_app(make_settings(**overrides))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get("/debug/stats", headers=headers)).status_code


async def test_prod_hides_debug_without_a_token_and_requires_it_when_set(
    make_settings: SettingsFactory,
) -> None:
    assert await open_debug(make_settings, {}, environment="prod") == 404
    assert await open_debug(make_settings, {}, environment="prod", debug_token="t0k") == 404
    wrong = {"X-Debug-Token": "nope"}
    assert await open_debug(make_settings, wrong, environment="prod", debug_token="t0k") == 404
    right = {"X-Debug-Token": "t0k"}
    assert await open_debug(make_settings, right, environment="prod", debug_token="t0k") == 200


async def test_stats_still_answer_when_every_pool_connection_is_checked_out(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=30))
    async with LifespanManager(app) as manager:
        engine = resources_of(manager).engine
        transport = httpx.ASGITransport(app=manager.app)
        async with (
            engine.connect() as held,  # the only connection, as a leak would hold it
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            await held.exec_driver_sql("SELECT 1")
            stats = (await client.get("/debug/stats", timeout=5)).json()
    assert stats["pool"]["checked_out"] == 1
    assert stats["pg_stat_activity"] is None
    assert "exhausted" in stats["pg_stat_activity_skipped"]

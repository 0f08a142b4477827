from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.ops.metrics import UNMATCHED_ROUTE
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


def request_counts(text: str) -> dict[tuple[str, str, str], float]:
    """``leakproof_http_requests_total`` of one scrape: {(method, route, status): count}."""
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "leakproof_http_requests_total"
    }


async def test_requests_are_counted_by_route_template_not_by_path(
    client: httpx.AsyncClient,
) -> None:
    for item_id in (101, 102, 103):
        assert (await client.get(f"/items/{item_id}")).status_code == 404
    assert (await client.get("/no/such/path/42")).status_code == 404
    assert (await client.post("/items", json={"name": "x", "price": -1})).status_code == 422
    counts = request_counts((await client.get("/metrics")).text)
    assert counts[("GET", "/items/{item_id}", "404")] == 3
    assert counts[("GET", UNMATCHED_ROUTE, "404")] == 1
    assert counts[("POST", "/items", "422")] == 1
    # no label carries an id: the series are bounded by the routes, not by the traffic
    assert not [route for _, route, _ in counts if any(char.isdigit() for char in route)]


async def test_a_body_refused_at_the_edge_is_counted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    too_big = b"x" * (settings.max_body_bytes + 1)
    response = await client.post("/items", content=too_big)
    assert response.status_code == 413
    counts = request_counts((await client.get("/metrics")).text)
    assert counts[("POST", UNMATCHED_ROUTE, "413")] == 1

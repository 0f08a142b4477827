from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.settings import Settings
from tests.support.fixtures import SettingsFactory


async def wait_finished(client: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    for _ in range(100):
        body: dict[str, object] = (await client.get(f"/jobs/{job_id}")).json()
        if body["state"] != "running":
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_summary_job_runs_in_the_background_and_reports_its_result(
    client: httpx.AsyncClient,
) -> None:
    for name, price in (("a", 2), ("b", 4)):
        await client.post("/items", json={"name": name, "price": price})
    started = await client.post("/jobs", json={"kind": "items-summary"})
    assert started.status_code == 202
    finished = await wait_finished(client, started.json()["id"])
    assert finished["state"] == "succeeded"
    assert finished["result"] == {"count": 2, "price_total": 6.0, "price_average": 3.0}


async def test_an_unknown_job_is_404_and_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/jobs/{'0' * 32}")).status_code == 404
    assert (await client.get("/jobs/not-an-id")).status_code == 422
    assert (await client.post("/jobs", json={"kind": "rm -rf"})).status_code == 422


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(tasks_max_running=1)


async def test_a_full_registry_answers_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    gate = asyncio.Event()
    app.state.resources.registry.start("blocker", gate.wait)
    try:
        response = await client.post("/jobs")
    finally:
        gate.set()
        await asyncio.sleep(0)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "full" in response.json()["detail"]

"""Secrets (the database password, the debug token) never reach logs, error bodies or /debug;
request ids are taken from clients only in a safe format and follow the request into the logs."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from tests.security.conftest import DATABASE_PASSWORD, DEBUG_TOKEN, unreachable_settings

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def test_secrets_appear_in_no_log_error_or_debug_answer(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = {"X-Debug-Token": DEBUG_TOKEN}
    answers = [
        await offline_client.get("/items/1"),
        await offline_client.get("/items"),
        await offline_client.post("/items", json={"name": "n", "price": 1}),
        await offline_client.get("/health/ready"),
        await offline_client.post("/jobs", json={"kind": "items-summary"}),
        await offline_client.get("/debug/stats", headers=token),
        await offline_client.get("/debug/growth", headers=token),
        await offline_client.get("/debug/stats"),
        await offline_client.get("/metrics"),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(503) >= 4, statuses  # the failures were really provoked
    assert 200 in statuses  # and /debug answered with the token
    assert "database unreachable" in caplog.text  # and logged
    seen = "\n".join(
        [caplog.text, *(repr(vars(record)) for record in caplog.records)]
        + [f"{answer.headers}\n{answer.text}" for answer in answers]
    )
    assert DATABASE_PASSWORD not in seen
    assert DEBUG_TOKEN not in seen


def test_settings_print_without_their_secrets() -> None:
    shown = f"{unreachable_settings()!r} {unreachable_settings()}"
    assert DATABASE_PASSWORD not in shown
    assert DEBUG_TOKEN not in shown


async def test_a_safe_request_id_is_echoed_and_tags_the_log_lines(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app")
    response = await offline_client.get("/items/7", headers={"X-Request-ID": "edge-42.a_b"})
    assert response.status_code == 503
    assert response.headers["x-request-id"] == "edge-42.a_b"
    tagged = [r for r in caplog.records if r.name.startswith("app.")]
    assert tagged, "the failure was not logged"
    assert {getattr(r, "request_id", None) for r in tagged} == {"edge-42.a_b"}


@pytest.mark.parametrize(
    "offered",
    [
        "line\r\nX-Injected: yes",
        "fake\nERROR forged log line",
        "%s%s%n",
        "a b",
        '"quoted"',
        "x" * 65,
        "",
        "-starts-with-a-dash",
        "ünïcode",
    ],
)
async def test_an_unsafe_request_id_is_replaced_by_a_generated_one(
    offline_client: httpx.AsyncClient, offered: str
) -> None:
    raw = offered.encode("utf-8")
    response = await offline_client.get("/health/live", headers=[(b"X-Request-ID", raw)])
    echoed = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(echoed), echoed
    assert "X-Injected" not in response.headers


async def test_each_request_without_an_id_gets_its_own(offline_client: httpx.AsyncClient) -> None:
    ids = {(await offline_client.get("/health/live")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED_ID.fullmatch(i) for i in ids)


async def test_an_unexpected_error_is_a_500_that_names_the_request_not_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    app = create_app(unreachable_settings())

    async def broken() -> None:
        raise RuntimeError(f"internal state {DATABASE_PASSWORD}")

    app.add_api_route("/broken", broken)  # a stand-in for a bug, in this test's app only
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/broken", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-1"
    assert "bug-1" in response.json()["detail"]
    assert "Traceback" not in response.text
    assert DATABASE_PASSWORD not in response.text
    assert "[request bug-1]" in caplog.text  # the log line a report can be matched with

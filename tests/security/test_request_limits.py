"""Bodies, page sizes and query parameters are refused before they cost memory or a connection,
with a detail that says what to change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from app.settings import Settings
from tests.security.conftest import unreachable_settings

LIMIT = Settings.model_fields["max_body_bytes"].default


async def test_a_declared_oversized_body_is_413_before_the_database_is_asked(
    offline_client: httpx.AsyncClient,
) -> None:
    response = await offline_client.post(
        "/items", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413  # the handler would have answered 503: no database
    assert str(LIMIT) in response.json()["detail"]
    assert response.headers["connection"] == "close"


async def test_a_chunked_oversized_body_is_413_once_it_passes_the_limit(
    offline_client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB offered, 64 KiB at a time
            sent += 65_536
            yield b"x" * 65_536

    response = await offline_client.post(
        "/items", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert str(LIMIT) in response.json()["detail"]
    assert sent < 64 * 65_536, "the whole body was read before it was refused"


async def test_a_body_at_the_limit_is_read_and_judged_on_its_content(
    offline_client: httpx.AsyncClient,
) -> None:
    response = await offline_client.post(
        "/items", content=b" " * LIMIT, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422  # read, then found not to be JSON


async def test_a_page_larger_than_the_setting_is_422_naming_the_parameter(
    offline_client: httpx.AsyncClient,
) -> None:
    too_many = unreachable_settings().page_size_max + 1
    response = await offline_client.get("/items", params={"limit": too_many})
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["query", "limit"]
    assert "less than or equal to" in problem["msg"]


async def test_malformed_query_parameters_are_422_with_what_was_wrong(
    offline_client: httpx.AsyncClient,
) -> None:
    for path, params, where in (
        ("/items", {"limit": "ten"}, ["query", "limit"]),
        ("/items", {"after": "-1"}, ["query", "after"]),
        ("/items", {"after": str(2**64)}, ["query", "after"]),
        ("/items/export", {"format": "xml"}, ["query", "format"]),
        ("/items/0", {}, ["path", "item_id"]),
        ("/jobs/not-a-job-id", {}, ["path", "job_id"]),
    ):
        response = await offline_client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        problem = response.json()["detail"][0]
        assert problem["loc"] == where
        assert problem["msg"], "the detail must say what is wrong"

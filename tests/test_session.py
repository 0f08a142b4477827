"""``get_session``, where every route's session comes from: it commits when the handler returns,
rolls back when the handler or a dependency raises and lets the error go on, and closes the
session on every path, a cancelled request included. Against the real PostgreSQL.

A session is closed when what it loaded is detached from it (a commit or a rollback alone keeps
it); committed or not is read from the database over a connection of the test's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import SessionDep
from app.models import Item
from tests.support.database import connected

PREFIX = "/test-session"


@dataclass
class Seen:
    """What the test routes did: the seeded item each one loaded, and when the slow one began."""

    seeded_id: int = 0
    loaded: list[Item] = field(default_factory=list)
    # held, so that an item is detached by its session's close, not by the session's collection
    sessions: list[AsyncSession] = field(default_factory=list)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)


async def rows_named(url: str, name: str) -> int:
    async with connected(url) as connection:
        count: int = await connection.fetchval("SELECT count(*) FROM items WHERE name = $1", name)
    return count


@pytest.fixture
async def seen(app: FastAPI, database_url: str) -> Seen:
    """Routes that use the session the way a service does, added to the running app."""
    async with connected(database_url) as connection:
        seeded_id = await connection.fetchval(
            "INSERT INTO items (name, price) VALUES ('seeded', 1) RETURNING id"
        )
    seen = Seen(seeded_id)

    async def write(session: SessionDep, name: str, flush: bool = False) -> None:
        loaded = await session.get(Item, seen.seeded_id)
        assert loaded is not None
        seen.loaded.append(loaded)
        seen.sessions.append(session)
        session.add(Item(name=name, price=1))
        if flush:  # the INSERT reaches the server: only a rollback undoes it now
            await session.flush()

    async def ok(session: SessionDep, name: str) -> dict[str, bool]:
        await write(session, name)
        return {"ok": True}

    async def raises(session: SessionDep, name: str) -> None:
        await write(session, name, flush=True)
        raise RuntimeError("the handler failed")

    async def refuses(session: SessionDep, name: str) -> None:
        await write(session, name, flush=True)
        raise HTTPException(status_code=409, detail="refused after the write")

    async def failing_dependency(session: SessionDep, name: str) -> None:
        await write(session, name, flush=True)
        raise LookupError("the dependency failed")

    async def behind_a_dependency() -> None:
        raise AssertionError("unreachable: the dependency raised")

    async def slow(session: SessionDep) -> None:
        loaded = await session.get(Item, seen.seeded_id)
        assert loaded is not None
        seen.loaded.append(loaded)
        seen.sessions.append(session)
        seen.waiting.set()
        await session.execute(text("SELECT pg_sleep(30)"))

    endpoints: list[tuple[str, Callable[..., Awaitable[Any]]]] = [
        ("/ok", ok), ("/raises", raises), ("/refuses", refuses), ("/slow", slow),
    ]  # fmt: skip
    for path, endpoint in endpoints:
        app.add_api_route(PREFIX + path, endpoint, methods=["POST"])
    # a dependency given by the route, so no annotation names a function local to this fixture
    app.add_api_route(
        f"{PREFIX}/dependency-raises", behind_a_dependency, methods=["POST"],
        dependencies=[Depends(failing_dependency)],
    )  # fmt: skip
    return seen


def closed(seen: Seen) -> bool:
    return bool(seen.loaded) and all(inspect(item).detached for item in seen.loaded)


def checked_out(app: FastAPI) -> int:
    pool: Any = app.state.resources.engine.pool
    checked: int = pool.checkedout()
    return checked


async def test_commits_when_the_handler_returns(
    client: httpx.AsyncClient, seen: Seen, database_url: str, app: FastAPI
) -> None:
    response = await client.post(f"{PREFIX}/ok", params={"name": "kept"})
    assert response.status_code == 200
    assert await rows_named(database_url, "kept") == 1
    assert closed(seen)
    assert checked_out(app) == 0


async def test_rolls_back_and_re_raises_when_the_handler_raises(
    client: httpx.AsyncClient, seen: Seen, database_url: str, app: FastAPI
) -> None:
    with pytest.raises(RuntimeError, match="the handler failed"):
        await client.post(f"{PREFIX}/raises", params={"name": "undone"})
    assert await rows_named(database_url, "undone") == 0
    assert closed(seen)
    assert checked_out(app) == 0


async def test_rolls_back_when_the_handler_answers_with_an_http_error(
    client: httpx.AsyncClient, seen: Seen, database_url: str
) -> None:
    response = await client.post(f"{PREFIX}/refuses", params={"name": "refused"})
    assert response.status_code == 409
    assert await rows_named(database_url, "refused") == 0
    assert closed(seen)


async def test_rolls_back_and_re_raises_when_a_dependency_raises(
    client: httpx.AsyncClient, seen: Seen, database_url: str, app: FastAPI
) -> None:
    with pytest.raises(LookupError, match="the dependency failed"):
        await client.post(f"{PREFIX}/dependency-raises", params={"name": "undone"})
    assert await rows_named(database_url, "undone") == 0
    assert closed(seen)
    assert checked_out(app) == 0


async def test_closes_a_request_cancelled_mid_query(
    client: httpx.AsyncClient, seen: Seen, database_url: str, app: FastAPI
) -> None:
    """What a server does to a request it gives up on (shutdown, a timeout): the task is
    cancelled while the statement runs. The session closes and nothing keeps the connection."""
    request = asyncio.create_task(client.post(f"{PREFIX}/slow"))
    await asyncio.wait_for(seen.waiting.wait(), timeout=10)
    await asyncio.sleep(0.2)  # the statement is on the server now
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert closed(seen)
    for _ in range(100):
        if checked_out(app) == 0:
            break
        await asyncio.sleep(0.05)
    assert checked_out(app) == 0
    async with connected(database_url) as connection:
        sleeping = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' "
            "AND state <> 'idle'"
        )
    assert sleeping == 0, "the cancelled statement still runs on the server"

"""The reference for the item-read budget: bare FastAPI over a raw asyncpg pool.

The fastest honest way to serve the same primary-key read with the same framework: no ORM, no
session, no transaction, no cache, no response model. ``leakproof bench`` runs it beside the
fixed build with the same server, pool size and load, so the ratio of the two prices exactly
what the fixed build's safety costs. Started as ``uvicorn load.bench.raw:app``; the URL comes
from LEAKPROOF_DATABASE_URL and the pool size from LEAKPROOF_DB_POOL_SIZE, as for the app.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy.engine import make_url

ITEM_QUERY = "SELECT id, name, description, price, created_at, updated_at FROM items WHERE id = $1"


def asyncpg_dsn(url: str) -> str:
    """The URL in the form asyncpg takes (no +driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    size = int(os.environ.get("LEAKPROOF_DB_POOL_SIZE", "10"))
    pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["LEAKPROOF_DATABASE_URL"]),
        min_size=size,
        max_size=size,
        server_settings={"application_name": f"leakproof-bench-raw:{os.getpid()}"},
    )
    try:
        yield {"pool": pool}
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}")
async def read_item(item_id: int, request: Request) -> dict[str, Any]:
    row = await request.state.pool.fetchrow(ITEM_QUERY, item_id)
    if row is None:
        raise HTTPException(404, detail=f"item {item_id} not found")
    return dict(row)


@app.get("/health/ready")
async def ready(request: Request) -> dict[str, str]:
    await request.state.pool.fetchval("SELECT 1")
    return {"status": "ok"}

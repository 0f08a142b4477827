"""stream-holds-session: a streamed export that reads through the request's own session.

The anti-pattern: the handler takes ``Depends(get_session)`` with FastAPI's default scope
("request"), runs the query and returns a ``StreamingResponse`` over its result. FastAPI runs a
request-scoped dependency's teardown after the response has been sent, so the session, its
transaction and its pooled connection stay checked out for the whole download: as long as the
slowest client takes to read it. Nothing caps how many run at once.

Retained: one pooled connection per open stream, "idle in transaction" between batches, from the
moment the handler runs (before the first byte) until the client has read the last one. It is
released afterwards: this is a pin, not a permanent leak, and it grows with the number of slow
readers, not with time.

Grows: ``/debug/stats`` ``pool.checked_out`` and ``pg_stat_activity.process`` follow the open
downloads one for one; past ``db_pool_size`` + ``db_max_overflow`` open downloads, every other
route waits ``db_pool_timeout_s`` and answers 503.

The fix: ``app/routes/export.py:export_items`` (the connection belongs to the stream's generator,
opened at the first byte, and ``export_max_running`` caps concurrent exports with a 503) and, for
sessions used by a handler, ``app/db.py:SessionDep`` (``scope="function"``: closed before the
response is sent). Only ``format=ndjson``: csv is served by the fixed route.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncResult, AsyncSession

from app.db import get_session
from app.deps import SettingsDep
from app.leaky.seams import Scenario, add_route_in_front
from app.models import Item
from app.routes.export import CSV_COLUMNS, MEDIA_TYPES, ExportFormat, ndjson_batch
from app.streaming import ClosingStreamingResponse

ID = "stream-holds-session"
PRECEDENCE = 2

RequestSession = Annotated[AsyncSession, Depends(get_session)]  # the default scope: "request"


async def ndjson_lines(result: AsyncResult[tuple[object, ...]]) -> AsyncGenerator[bytes, None]:
    async for partition in result.partitions():
        yield ndjson_batch(partition)


async def export_items(
    settings: SettingsDep,
    session: RequestSession,
    format: Annotated[ExportFormat, Query(description="ndjson or csv")] = ExportFormat.ndjson,
) -> ClosingStreamingResponse:
    columns = [getattr(Item, column) for column in CSV_COLUMNS]
    statement = select(*columns).order_by(Item.id)
    batch = settings.export_batch_rows
    result = await session.stream(statement.execution_options(yield_per=batch))
    return ClosingStreamingResponse(
        ndjson_lines(result),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="items.{format.value}"'},
    )


def install(app: FastAPI) -> None:
    add_route_in_front(
        app,
        "GET",
        "/items/export",
        export_items,
        parameter="format",
        default=ExportFormat.ndjson.value,
        values=[ExportFormat.ndjson.value],
        precedence=PRECEDENCE,
    )


async def release(_app: FastAPI) -> None:
    """Nothing is kept once the downloads end: their teardown returns the connections."""


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items/export?format=ndjson",
    leaks="a pooled connection per open download, held from the handler to the last byte",
    signal="pool.checked_out follows open downloads (no cap); then 503 elsewhere",
    fix="app/routes/export.py:export_items",
    install=install,
    release=release,
)

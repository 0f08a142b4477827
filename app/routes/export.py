"""GET /items/export: every row, streamed, in constant memory.

The connection belongs to the stream, not to the request: it is opened when the first byte is
produced and returned when the stream ends or the client goes away (see app/streaming.py). A
cap on concurrent exports keeps slow readers from pinning the whole pool.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterable
from contextlib import suppress
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.deps import EngineDep, ExportSlotsDep, SettingsDep
from app.errors import documented
from app.models import Item
from app.streaming import ClosingStreamingResponse

router = APIRouter(prefix="/items", tags=["export"])

CSV_COLUMNS = ("id", "name", "description", "price", "created_at", "updated_at")
# A fixed statement, never built from input (the lint forbids SQL built by formatting).
CSV_COPY_QUERY = (
    "SELECT id, name, description, price, created_at, updated_at FROM items ORDER BY id"
)
COPY_QUEUE_CHUNKS = 16
# set_config(..., is_local => true) is SET LOCAL with a bound value
EXPORT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


MEDIA_TYPES = {ExportFormat.ndjson: "application/x-ndjson", ExportFormat.csv: "text/csv"}


async def ndjson_rows(engine: AsyncEngine, batch_rows: int) -> AsyncGenerator[bytes, None]:
    """Rows from a server-side cursor, ``batch_rows`` at a time, one JSON object a line."""
    columns = [getattr(Item, column) for column in CSV_COLUMNS]
    async with engine.connect() as connection:
        result = await connection.stream(
            select(*columns).order_by(Item.id).execution_options(yield_per=batch_rows)
        )
        async for partition in result.partitions():
            yield ndjson_batch(partition)


def ndjson_batch(rows: Iterable[Row[Any]]) -> bytes:
    """Item rows (the CSV_COLUMNS), one compact JSON object a line; nothing for no rows."""
    lines = [
        json.dumps(
            {
                "id": row.id,
                "name": row.name,
                "description": row.description,
                "price": row.price,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            },
            separators=(",", ":"),
        )
        for row in rows
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


async def csv_rows(engine: AsyncEngine, timeout_s: float) -> AsyncGenerator[bytes, None]:
    """PostgreSQL's own CSV writer (COPY ... TO STDOUT) through a bounded queue.

    The queue bounds memory: COPY waits while the client is slower than the database. A COPY is
    one statement, so the requests' statement_timeout would cut a long export off after its 200
    had gone out; it gets a limit of its own instead, for this transaction only (SET LOCAL).
    """
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(COPY_QUEUE_CHUNKS)
    async with engine.connect() as connection:
        await connection.execute(EXPORT_TIMEOUT, {"ms": str(int(timeout_s * 1000))})
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None

        async def forward(chunk: bytearray) -> None:
            await queue.put(bytes(chunk))  # Starlette sends bytes, not bytearray

        async def produce() -> None:
            try:
                await driver.copy_from_query(
                    CSV_COPY_QUERY, output=forward, format="csv", header=True
                )
            except Exception as error:  # handed to the consumer, which re-raises it
                await queue.put(error)
                return
            await queue.put(None)

        producer = asyncio.create_task(produce(), name="export:copy")
        try:
            while (chunk := await queue.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                yield chunk
        finally:
            producer.cancel()
            with suppress(asyncio.CancelledError):
                await producer
            # an interrupted COPY leaves the protocol mid-stream: do not reuse this connection
            if producer.cancelled():
                await connection.invalidate()


@router.get(
    "/export",
    response_class=ClosingStreamingResponse,
    status_code=status.HTTP_200_OK,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **documented(503)},
)
async def export_items(
    engine: EngineDep,
    settings: SettingsDep,
    slots: ExportSlotsDep,
    format: Annotated[ExportFormat, Query(description="ndjson or csv")] = ExportFormat.ndjson,
) -> ClosingStreamingResponse:
    if not slots.try_acquire():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"{slots.limit} exports are already running; retry shortly",
            headers={"Retry-After": "5"},
        )
    rows = (
        csv_rows(engine, settings.export_timeout_s)
        if format is ExportFormat.csv
        else ndjson_rows(engine, settings.export_batch_rows)
    )
    return ClosingStreamingResponse(
        rows,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="items.{format.value}"'},
        on_close=slots.release,
    )

"""unstreamed-export: every row fetched with ``.all()`` and sent back as one body.

The anti-pattern: the export reads the whole table into a list, formats it into one string and
returns a plain ``Response``. The bytes are the same as the streamed export's (one JSON object a
line, or PostgreSQL's CSV), but they all exist at once: the rows, their Python objects, the lines
and the joined body.

Retained: nothing after the response; the damage is the peak. During an export the process holds
the whole table several times over (docs/bench.md has the figures for a million rows), and
the allocator keeps most of that high-water mark afterwards (glibc arenas, pymalloc pools), so
RSS steps up and stays up. Two exports at once double it.

Grows: peak RSS with the row count: ``/debug/stats`` ``rss_mb`` after an export (and ``heap_mb``
when ``LEAKPROOF_TRACEMALLOC_FRAMES`` is set); ``leakproof_worker_rss_bytes`` in /metrics.

The fix: ``app/routes/export.py:ndjson_rows`` (a server-side cursor, ``yield_per`` rows a batch)
and ``app/routes/export.py:csv_rows`` (COPY through a bounded queue), sent by
``app/streaming.py:ClosingStreamingResponse``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.deps import EngineDep
from app.leaky.seams import Scenario, add_route_in_front
from app.models import Item
from app.routes.export import CSV_COLUMNS, CSV_COPY_QUERY, MEDIA_TYPES, ExportFormat, ndjson_batch

ID = "unstreamed-export"
PRECEDENCE = 1


async def ndjson_body(engine: AsyncEngine) -> bytes:
    columns = [getattr(Item, column) for column in CSV_COLUMNS]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(*columns).order_by(Item.id))).all()
    return ndjson_batch(rows)


async def csv_body(engine: AsyncEngine) -> bytes:
    chunks: list[bytes] = []

    async def keep(chunk: bytearray) -> None:
        chunks.append(bytes(chunk))

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_from_query(CSV_COPY_QUERY, output=keep, format="csv", header=True)
    return b"".join(chunks)


async def export_items(
    engine: EngineDep,
    format: Annotated[ExportFormat, Query(description="ndjson or csv")] = ExportFormat.ndjson,
) -> Response:
    body = await (csv_body(engine) if format is ExportFormat.csv else ndjson_body(engine))
    return Response(
        body,
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
        values=[ExportFormat.ndjson.value, ExportFormat.csv.value],
        precedence=PRECEDENCE,
    )


async def release(_app: FastAPI) -> None:
    """Nothing is kept: the peak is the leak."""


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items/export (ndjson and csv)",
    leaks="the whole table in memory per export; the high-water RSS stays",
    signal="peak rss_mb (heap_mb) grows with the row count",
    fix="app/routes/export.py:ndjson_rows, csv_rows",
    install=install,
    release=release,
)

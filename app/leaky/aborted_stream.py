"""aborted-stream: a stream generator without ``try/finally``, sent by a plain StreamingResponse.

The anti-pattern: the CSV export opens its connection and starts PostgreSQL's COPY in a producer
task, then yields chunks; it closes both after the last chunk, but not in a ``finally``. When the
client goes away mid-download, Starlette stops iterating and never calls ``aclose()`` on the
generator, so the code after the loop never runs: the connection stays checked out in the middle
of a COPY and the producer task stays parked on its full queue.

Retained: per aborted download, one pooled connection (mid-COPY) and one producer task. This twin
keeps each download in ``retained(app, ID)`` (its "open downloads" list, which the generator
leaves only at its normal end), so the leak does not depend on the garbage collector. Without
that reference the collector would eventually finalise the generator (asyncio then calls
``aclose()``, which still runs no cleanup here) and SQLAlchemy would drop the connection with a
"non-checked-in connection" warning.

Grows: ``/debug/stats`` ``pool.checked_out`` and ``pg_stat_activity.process``, one per aborted
download (and ``fds`` on the PostgreSQL side); ``asyncio_tasks`` while the COPY is unfinished.

The fix: ``app/routes/export.py:csv_rows`` (``async with`` and a ``finally`` that cancels the
producer and invalidates the connection) and ``app/streaming.py:ClosingStreamingResponse``
(``aclosing`` the generator on every path). Only ``format=csv``: ndjson is served by the fixed
route.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.deps import EngineDep
from app.leaky.seams import Scenario, add_route_in_front, retained
from app.routes.export import COPY_QUEUE_CHUNKS, CSV_COPY_QUERY, MEDIA_TYPES, ExportFormat

ID = "aborted-stream"
PRECEDENCE = 0


@dataclass
class Download:
    connection: AsyncConnection | None = None
    producer: asyncio.Task[None] | None = None
    generator: AsyncGenerator[bytes, None] | None = field(default=None, repr=False)


async def csv_rows(engine: AsyncEngine, download: Download) -> AsyncGenerator[bytes, None]:
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(COPY_QUEUE_CHUNKS)
    connection = download.connection = await engine.connect()  # no `async with`
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None

    async def forward(chunk: bytearray) -> None:
        await queue.put(bytes(chunk))

    async def produce() -> None:
        try:
            await driver.copy_from_query(CSV_COPY_QUERY, output=forward, format="csv", header=True)
        except Exception as error:
            await queue.put(error)
            return
        await queue.put(None)

    download.producer = asyncio.create_task(produce(), name="export:copy")
    while (chunk := await queue.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        yield chunk
    # reached only when the client read everything: no `finally`
    await connection.close()


async def export_items(
    request: Request,
    engine: EngineDep,
    format: Annotated[ExportFormat, Query(description="ndjson or csv")] = ExportFormat.ndjson,
) -> StreamingResponse:
    download = Download()
    downloads = retained(request.app, ID)
    downloads.append(download)
    download.generator = rows = csv_rows(engine, download)

    async def tracked() -> AsyncGenerator[bytes, None]:
        async for chunk in rows:
            yield chunk
        downloads.remove(download)  # the normal end; an aborted download never gets here

    return StreamingResponse(
        tracked(),
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
        values=[ExportFormat.csv.value],
        precedence=PRECEDENCE,
    )


async def release(app: FastAPI) -> None:
    """For tests: stop each abandoned COPY and close its connection, as the fix's finally does."""
    downloads = retained(app, ID)
    while downloads:
        download: Download = downloads.pop()
        if download.producer is not None:
            download.producer.cancel()
            await asyncio.gather(download.producer, return_exceptions=True)
        if download.generator is not None:
            await download.generator.aclose()
        if download.connection is not None:
            await download.connection.invalidate()
            await download.connection.close()


SCENARIO = Scenario(
    id=ID,
    endpoint="GET /items/export?format=csv",
    leaks="a connection (mid-COPY) and a producer task per download the client aborted",
    signal="pool.checked_out, pg_stat_activity rows, asyncio_tasks",
    fix="app/routes/export.py:csv_rows; app/streaming.py",
    install=install,
    release=release,
)

"""exception-retention: an error hook that keeps each exception "to report later".

The anti-pattern: the 422 handler answers like the fixed one, and also hands the exception to an
error reporter that batches reports in a module-level list, to send them some time later (or
never: a reporter that is down, a batch that is never flushed). An exception object is not a
string: its ``__traceback__`` refers to every frame it passed through, and each frame to its
locals and its caller. Kept, one failed request keeps the request's frames alive: the handler's
locals (the scope, the body it read, the parsed errors), FastAPI's and Starlette's frames above
it, and the server's per-request objects they point at.

Retained: per rejected request, one ``RequestValidationError``, its traceback, about ten frames
and what they refer to (a few KB), plus the report's copy of the errors; in
``_REPORTS``, for the life of the process. The line that keeps them is the ``append`` in
``report_later``.

Grows: ``/debug/growth`` lists ``traceback``, ``frame``, ``RequestValidationError`` and
``dict``; ``/debug/stats`` ``gc_objects``, ``heap_mb`` (with ``LEAKPROOF_TRACEMALLOC_FRAMES``)
and ``rss_mb``. Only failing requests feed it, one report each.

The fix: ``app/errors.py:invalid_request`` (answer, keep nothing) and ``app/errors.py:unexpected``
(log with ``exc_info``: the logging call formats the traceback into text and lets it go).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.errors import invalid_request
from app.leaky.seams import Scenario, override_exception_handler

ID = "exception-retention"


@dataclass
class Report:
    path: str
    errors: list[Any]
    error: Exception  # the bug: the object, not ``repr(error)``; it carries its traceback


_REPORTS: list[Report] = []


def report_later(request: Request, error: Exception) -> None:
    assert isinstance(error, RequestValidationError)
    _REPORTS.append(Report(request.url.path, list(error.errors()), error))  # kept for good


async def invalid_request_reported(request: Request, error: Exception) -> JSONResponse:
    """The fixed handler's answer, plus the "report later" that keeps the exception."""
    report_later(request, error)
    return await invalid_request(request, error)


def install(app: FastAPI) -> None:
    override_exception_handler(app, RequestValidationError, invalid_request_reported)


async def release(_app: FastAPI) -> None:
    """For tests: drop every kept report (the list outlives every app)."""
    _REPORTS.clear()


SCENARIO = Scenario(
    id=ID,
    endpoint="POST /items with an invalid body (every 422)",
    leaks="each rejected request's exception, with its traceback, frames and their locals",
    signal="gc_objects, heap_mb; /debug/growth: traceback, frame",
    fix="app/errors.py:invalid_request",
    install=install,
    release=release,
)

"""exception-retention: an error hook that keeps each exception "to report later".

The anti-pattern: the 422 handler answers like the fixed one, and also hands ``sys.exc_info()``
to an error reporter that batches reports in a module-level list, to send them some time later
(or never: a reporter that is down, a batch that is never flushed). An exception is not a
string: its traceback refers to every frame it passed through, and each frame to its locals.
Kept, one failed request keeps the request's frames alive: FastAPI's request handler with the
body it read and parsed, the scope, and the server's per-request objects they point at.
(Starlette clears ``__traceback__`` on a handled exception once its handler has answered, so
keeping the exception object alone keeps it and its body; keeping the traceback, as
``exc_info`` does, keeps every frame.)

Retained: per rejected request, one ``RequestValidationError`` with its body, its traceback and
the three frames it refers to (the body again, raw, and the request's objects), plus the
report's copy of the errors; in ``_REPORTS``, for the life of the process. The line that keeps
them is the ``append`` in ``report_later``.

Grows: ``/debug/growth`` lists ``traceback`` and ``frame`` (three each a request) and what the
frames hold (``cell``, ``function``, ``AsyncExitStack``, ``Headers``); ``/debug/stats``
``gc_objects``, ``heap_mb`` (with ``LEAKPROOF_TRACEMALLOC_FRAMES``) and ``rss_mb``. Only
failing requests feed it, one report each.

The fix: ``app/errors.py:invalid_request`` (answer, keep nothing) and ``app/errors.py:unexpected``
(log with ``exc_info``: the logging call formats the traceback into text and lets it go).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.errors import invalid_request
from app.leaky.seams import Scenario, override_exception_handler

ID = "exception-retention"


ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


@dataclass
class Report:
    path: str
    errors: list[Any]
    exc_info: ExcInfo  # the bug: the exception and its traceback, not ``repr(error)``


_REPORTS: list[Report] = []


def report_later(request: Request, error: Exception) -> None:
    assert isinstance(error, RequestValidationError)
    # called while the exception is being handled: sys.exc_info() holds its traceback
    _REPORTS.append(Report(request.url.path, list(error.errors()), sys.exc_info()))  # for good


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

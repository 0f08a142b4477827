"""Failures a client can act on become 4xx/5xx answers with a useful detail, never a traceback.

The database being away or saturated is the client's cue to retry, so it is a 503 with
Retry-After, reached within the pool and statement timeouts rather than a hang. Database
errors come wrapped by SQLAlchemy and are classified by the driver's SQLSTATE. A unique or
foreign-key violation is the client's conflict, a 409 naming the field, whichever table it
happens in: routes flush and let it rise.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc

logger = logging.getLogger(__name__)

RETRY_AFTER_S = "2"
CONNECTION_ERRORS = (ConnectionError, TimeoutError, FileNotFoundError, socket.gaierror)
# SQLSTATE classes of a statement's own fault: data (22), integrity (23), syntax or access (42).
# Every other class (connection 08, resources 53, operator intervention 57 ...) means the
# database is unavailable. Classified by SQLSTATE: SQLAlchemy's asyncpg adapter raises class 22
# as its generic Error, not as DataError.
STATEMENT_FAULT_CLASSES = ("22", "23", "42")
UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION = "23505", "23503"
# PostgreSQL's DETAIL of a violation: Key (name)=(a) already exists. / ... is not present in
# table "items". / ... is still referenced from table "orders".
VIOLATION_DETAIL = re.compile(
    r"Key \((?P<field>.+?)\)=\((?P<value>.*)\) (?P<what>already exists|is not present in table"
    r'|is still referenced from table)(?: "(?P<table>[^"]+)")?'
)


class ErrorDetail(BaseModel):
    detail: str


ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    404: "Not found; the detail names what.",
    409: "A unique value is taken, or a referenced row is missing or still referenced; the "
    "detail names the field.",
    413: "The body is larger than the configured limit (max_body_bytes).",
    502: "The webhook receiver failed or could not be reached; the detail says which.",
    503: "Busy or the database is unavailable; retry after the Retry-After seconds.",
    504: "The webhook receiver did not answer within LEAKPROOF_WEBHOOK_TIMEOUT_S.",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can answer, so clients (and schemathesis) know."""
    return {code: {"model": ErrorDetail, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


def not_found(resource: str, key: object) -> HTTPException:
    """The 404 a route raises for a row that is not there: ``not_found("order", 7)``."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{resource} {key} not found")


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def pool_timeout(_request: Request, _error: Exception) -> JSONResponse:
    return _unavailable("all database connections are busy; retry shortly")


def _reason(error: Exception) -> str:
    """The driver's own exception name (asyncpg's, not SQLAlchemy's generic adapter ``Error``)."""
    original = getattr(error, "orig", None) or error
    return type(original.__cause__ or original).__name__


def _sqlstate(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return str(getattr(original, "sqlstate", None) or "")


def _conflict(error: Exception) -> JSONResponse | None:
    """A unique or foreign-key violation as a 409 naming the field; None for any other error."""
    sqlstate = _sqlstate(error)
    if sqlstate not in (UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION):
        return None
    original = getattr(error, "orig", None) or error
    driver = original.__cause__ or original  # asyncpg's own, which carries the server's DETAIL
    found = VIOLATION_DETAIL.search(str(getattr(driver, "detail", None) or ""))
    if found is None:  # a server whose messages are not in English: name the constraint
        constraint = getattr(driver, "constraint_name", None) or "a constraint"
        detail = f"the request conflicts with {constraint}"
    elif found["what"] == "already exists":
        detail = f"{found['field']} {found['value']!r} is taken; choose another"
    elif found["what"] == "is not present in table":
        detail = f"{found['field']} {found['value']} refers to no row of {found['table']}"
    else:
        detail = (
            f"{found['field']} {found['value']} is still referenced from {found['table']}; "
            "remove those first"
        )
    return JSONResponse({"detail": detail}, status_code=status.HTTP_409_CONFLICT)


def _statement_fault(error: Exception) -> bool:
    """A bug or an unexpected constraint, as opposed to the database being away or busy."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return False
    # InterfaceError on a connection that is still there: the driver was misused
    return _sqlstate(error).startswith(STATEMENT_FAULT_CLASSES) or isinstance(
        error,
        sa_exc.ProgrammingError | sa_exc.IntegrityError | sa_exc.DataError | sa_exc.InterfaceError,
    )


async def database_error(request: Request, error: Exception) -> JSONResponse:
    conflict = _conflict(error)
    if conflict is not None:
        return conflict
    reason = _reason(error)
    if "QueryCanceled" in reason or "Timeout" in reason:
        return _unavailable("the database took too long to answer; retry shortly")
    if _statement_fault(error):
        # a bug or an unexpected constraint: log it whole, tell the client only that it failed
        logger.error("database error on %s %s", request.method, request.url.path, exc_info=error)
        return JSONResponse(
            {"detail": "the database could not carry out the request"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    logger.warning("database unavailable on %s: %s", request.url.path, reason)
    return _unavailable(f"the database is unavailable ({reason}); retry shortly")


async def connection_refused(request: Request, error: Exception) -> JSONResponse:
    # Any OSError lands here, not only the database's. What an outage raises (refused, reset,
    # timed out, a unix socket that is gone, a name that does not resolve) is one line; anything
    # else keeps its traceback, so a bug elsewhere is not mistaken for an outage.
    outage = isinstance(error, CONNECTION_ERRORS)
    logger.warning(
        "database unreachable on %s: %s",
        request.url.path,
        type(error).__name__,
        exc_info=None if outage else error,
    )
    return _unavailable(f"the database is unreachable ({type(error).__name__}); retry shortly")


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: it can carry any string, a lone surrogate
    included, which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        return text.encode()


async def invalid_request(_request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own 422, except the rendering: its errors echo the input, and a JSON body may
    # hold a lone surrogate ("\ud800") that pydantic refuses and UTF-8 cannot encode, which
    # turned the 422 into a 500
    assert isinstance(error, RequestValidationError)
    return AsciiJSONResponse(
        {"detail": jsonable_encoder(error.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    # runs in ServerErrorMiddleware, outside the request-id middleware: take the id from state
    request_id = getattr(request.state, "request_id", None)
    logger.error(
        "unhandled error on %s %s [request %s]",
        request.method,
        request.url.path,
        request_id,
        exc_info=error,
    )
    return JSONResponse(
        {"detail": f"internal error; quote request id {request_id} when reporting it"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        headers={"X-Request-ID": str(request_id)} if request_id else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(sa_exc.TimeoutError, pool_timeout)
    app.add_exception_handler(sa_exc.DBAPIError, database_error)
    app.add_exception_handler(OSError, connection_refused)

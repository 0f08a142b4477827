"""A service the lab did not start (staging, a container, another machine), and the checks made
before any load: it answers, its metrics path serves Prometheus text with a memory gauge, and
what else it shows (this template's ``/debug/stats``, a database to count connections in).

Each failed check is a ``TargetError`` whose text is the one line the command prints: what is
wrong and what to give instead.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from sqlalchemy.exc import ArgumentError

from load.run.database import asyncpg_dsn
from load.run.metrics_text import MEMORY_GAUGES, PROCESS_RSS, WORKER_RSS, Scrape, parse

CHECK_TIMEOUT_S = 10.0
DEBUG_STATS = "/debug/stats"
DEBUG_TOKEN_ENV = "LEAKPROOF_DEBUG_TOKEN"  # noqa: S105 - a name, not a secret


class TargetError(ValueError):
    """The service cannot be soaked as given; the message names the fix."""


@dataclass(frozen=True)
class Target:
    url: str  # the base address, without a trailing slash
    metrics_path: str
    database_url: str | None = None  # where to count its connections (pg_stat_activity)
    debug_headers: dict[str, str] = field(default_factory=dict)
    debug: bool = False  # /debug/stats answered (this template): gc objects, threads, pool
    memory_gauge: str = PROCESS_RSS
    multiprocess: bool = False  # the memory gauge carries a pid label: every worker at once
    workers: int = 1  # workers the metrics listed (multiprocess), else 1

    @property
    def metrics_url(self) -> str:
        return self.url + self.metrics_path


def debug_headers() -> dict[str, str]:
    token = os.environ.get(DEBUG_TOKEN_ENV)
    return {"X-Debug-Token": token} if token else {}


def base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise TargetError(
            f"--url {url!r} is not an http(s) address: give the service's base address, "
            "e.g. --url http://127.0.0.1:8000"
        )
    return url.rstrip("/")


def check_target(url: str, metrics_path: str, database_url: str | None = None) -> Target:
    """The target as it answered now; TargetError when it cannot be soaked as given."""
    base = base_url(url)
    if not metrics_path.startswith("/"):
        raise TargetError(f"--metrics-path {metrics_path!r} must start with /, e.g. /metrics")
    headers = debug_headers()
    with httpx.Client(timeout=CHECK_TIMEOUT_S) as client:
        scrape = _read_metrics(client, base, metrics_path)
        debug = _debug_answers(client, base + DEBUG_STATS, headers)
    if database_url is not None:
        _check_database(database_url)
    gauge = next(name for name in MEMORY_GAUGES if scrape.has(name))
    per_worker = scrape.by_label(WORKER_RSS, "pid")
    return Target(
        url=base,
        metrics_path=metrics_path,
        database_url=database_url,
        debug_headers=headers,
        debug=debug,
        memory_gauge=WORKER_RSS if per_worker else gauge,
        multiprocess=bool(per_worker),
        workers=max(1, len(per_worker)),
    )


def _read_metrics(client: httpx.Client, base: str, path: str) -> Scrape:
    where = base + path
    try:
        answer = client.get(where)
    except httpx.HTTPError as error:
        raise TargetError(
            f"{base} cannot be reached ({type(error).__name__}: {error}); check the address and "
            "that the service is running"
        ) from None
    if answer.status_code == 404:
        raise TargetError(
            f"{where} answered 404: give the path of the service's Prometheus metrics with "
            "--metrics-path"
        )
    if answer.status_code != 200:
        raise TargetError(
            f"{where} answered HTTP {answer.status_code}: give --metrics-path a path that serves "
            "Prometheus text without credentials"
        )
    try:
        scrape = parse(answer.text)
    except ValueError as error:
        kind = answer.headers.get("content-type", "no content type")
        raise TargetError(
            f"{where} is not Prometheus text ({kind}: {error}); give --metrics-path the path of "
            "the service's Prometheus metrics"
        ) from None
    if not any(scrape.has(name) for name in MEMORY_GAUGES):
        raise TargetError(
            f"{where} has no {PROCESS_RSS} (nor {WORKER_RSS}), and the verdict is on memory: "
            "register prometheus_client's ProcessCollector in the service's registry"
        )
    return scrape


def _debug_answers(client: httpx.Client, url: str, headers: dict[str, str]) -> bool:
    """Whether this template's /debug/stats answers (with its token, when one is set here)."""
    try:
        answer = client.get(url, headers=headers)
        body: Any = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and "pid" in body


def _check_database(url: str) -> None:
    async def connect() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=CHECK_TIMEOUT_S)
        await connection.close()

    try:
        asyncio.run(connect())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        raise TargetError(
            f"--database-url: cannot connect ({type(error).__name__}: {error}); give the URL "
            "of the database the service uses, or leave it out"
        ) from None
    except (ArgumentError, ValueError) as error:  # not a URL at all
        raise TargetError(f"--database-url: {error}; give postgresql://...") from None

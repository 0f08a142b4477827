"""One Settings object: every knob a user turns, with a safe default and a one-line description.

Built once at start (``load_settings``) and passed down; only the lifespan and dependencies read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LEAKPROOF_"
# the smallest memory budget a worker may get: below it a worker would be over budget idle
MIN_WORKER_MEMORY_MB = 64
# the admission limit's default: one request per connection the pool can hand out; a second one
# only waited at the pool instead, where waiting costs more CPU (docs/bench.md)
ACTIVE_REQUESTS_PER_CONNECTION = 1


class SettingsError(RuntimeError):
    """A setting has a value the service cannot start with; the message names it and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    environment: Literal["dev", "prod"] = Field(
        "dev", description="dev turns debug endpoints on; prod hides them unless a token is set."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the app and the servers."
    )

    app_name: str = Field(
        "leakproof",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Names this service: its database and cache connections (<app_name>:<pid>) "
        "and its shared cache keys.",
    )
    speedups: bool = Field(
        True,
        description="Switch on the measured speed-ups of app/speedups (fair pool, driver read, "
        "frozen heap); off: the plain service.",
    )

    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL (postgresql://user:pass@host/db or ?host=/socket/dir). "
        "Unset: an embedded PostgreSQL is started in data_dir.",
    )
    data_dir: Path = Field(
        Path(".leakproof"), description="Where the embedded PostgreSQL keeps its data."
    )
    db_pool_size: int = Field(10, ge=1, le=500, description="Connections kept open per worker.")
    db_max_overflow: int = Field(
        5, ge=0, le=500, description="Extra connections a worker may open under bursts."
    )
    db_pool_timeout_s: float = Field(
        5.0, gt=0, le=300, description="Wait for a free connection before answering 503."
    )
    db_pool_recycle_s: int = Field(
        1800, ge=-1, description="Replace connections older than this (-1: never)."
    )
    db_pool_pre_ping: bool = Field(
        False,
        description="Test each connection on checkout (three round trips: BEGIN, ping, ROLLBACK).",
    )
    db_statement_timeout_ms: int = Field(
        5000, ge=0, description="PostgreSQL statement_timeout for requests (0: none)."
    )

    cache_max_entries: int = Field(
        10_000,
        ge=0,
        le=10_000_000,
        description="Entries per resource: per worker in-process, shared with cache_url (0: none).",
    )
    cache_ttl_s: float = Field(30.0, gt=0, description="Seconds an entry stays cached.")
    cache_url: SecretStr | None = Field(
        None,
        description="redis://host:6379/0 for one cache shared by all workers; unset: per worker.",
    )
    cache_key_prefix: str = Field(
        "leakproof",
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description=(
            "Prefix of the Redis keys (app_name, then the resource, are appended), so apps can "
            "share a Redis."
        ),
    )
    cache_redis_pool_size: int = Field(
        10, ge=1, le=1000, description="Redis connections per worker; more requests wait."
    )
    cache_redis_timeout_s: float = Field(
        0.25, gt=0, le=30, description="A Redis call slower than this counts as a miss."
    )

    tasks_max_running: int = Field(
        8, ge=1, le=10_000, description="Background jobs running at once; more get 503."
    )
    tasks_max_kept: int = Field(
        1000, ge=1, description="Finished jobs remembered for GET /jobs/{id}."
    )
    tasks_shutdown_timeout_s: float = Field(
        5.0, gt=0, description="Time jobs get to finish cancelling at shutdown."
    )

    page_size_max: int = Field(100, ge=1, le=10_000, description="Largest GET /items page.")
    export_batch_rows: int = Field(
        1000, ge=1, le=100_000, description="Rows per batch fetched by an export."
    )
    export_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Longest a CSV export may run (one COPY statement, however slow its reader).",
    )
    export_max_running: int = Field(
        4, ge=1, description="Exports streaming at once per worker (each holds a connection)."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Request bodies larger than this get 413."
    )
    max_active_requests: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="Requests a worker runs at once; more wait their turn in arrival order, "
        "at most db_pool_timeout_s. Unset: one per database connection (pool size plus overflow); "
        "0: no limit.",
    )
    max_queued_requests: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Requests that may wait for a turn; past them a request gets 503 with "
        "Retry-After at once.",
    )

    accepts_per_turn: int = Field(
        16,
        ge=1,
        le=256,
        description="New connections a worker accepts per turn of its event loop, so a burst "
        "of them is not accepted a few a second while it is busy; 1: uvicorn's own.",
    )
    workers: int = Field(2, ge=1, le=64, description="gunicorn worker processes.")
    max_requests: int = Field(
        10_000, ge=0, description="Requests before a gunicorn worker is recycled (0: never)."
    )
    max_requests_jitter: int = Field(
        1000, ge=0, description="Random extra requests so workers do not recycle together."
    )
    graceful_timeout_s: int = Field(
        30, ge=1, description="Time a stopping worker gets to finish its requests."
    )
    worker_timeout_s: int = Field(
        60, ge=1, description="gunicorn kills a worker silent for this long."
    )
    max_worker_memory_mb: int | Literal["auto"] | None = Field(
        None,
        description="Recycle a gunicorn worker past this RSS (MB), draining it; auto: from the "
        "container's memory limit; unset: never.",
    )
    worker_memory_headroom: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="With auto: share of the container's limit kept free for what workers grow "
        "while one drains.",
    )
    cgroup_root: Path = Field(
        Path("/sys/fs/cgroup"),
        description="Where auto reads the container's memory limit (cgroup v2 or v1).",
    )

    debug_enabled: bool | None = Field(
        None, description="Serve /debug/*; unset: on in dev, on in prod only with a token."
    )
    debug_token: SecretStr | None = Field(
        None, description="When set, /debug/* requires the header X-Debug-Token."
    )
    tracemalloc_frames: int = Field(
        0, ge=0, le=100, description="Trace the Python heap with this many frames (0: off)."
    )
    metrics_refresh_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="Each worker refreshes its /metrics gauges this often (0: off).",
    )

    webhook_url: SecretStr | None = Field(
        None,
        description="Where POST /items/{id}/notify sends its event (http:// or https://); "
        "unset: notify answers 503.",
    )
    webhook_timeout_s: float = Field(
        2.0, gt=0, le=60, description="Longest wait for the webhook receiver before a 504."
    )
    webhook_max_connections: int = Field(
        10, ge=1, le=1000, description="Connections to the webhook receiver per worker."
    )

    @field_validator("webhook_url")
    @classmethod
    def _http_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value():
            return None
        scheme = url.get_secret_value().split("://", 1)[0]
        if scheme not in {"http", "https"}:
            raise ValueError(f"scheme {scheme!r} is not HTTP; use https://host/path (or unset it)")
        return url

    @field_validator("db_pool_recycle_s")
    @classmethod
    def _recycle_never_or_positive(cls, seconds: int) -> int:
        if seconds == 0:
            raise ValueError("0 would replace every connection on every checkout; use -1 for never")
        return seconds

    @field_validator("max_worker_memory_mb", mode="before")
    @classmethod
    def _budget_number_auto_or_unset(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            if value in {"", "none", "off"}:
                return None
            if value != "auto" and not value.isdigit():
                raise ValueError(f"{value!r} is not a number of MB, auto, or empty for never")
        return value

    @field_validator("max_worker_memory_mb")
    @classmethod
    def _budget_above_an_idle_worker(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < MIN_WORKER_MEMORY_MB:
            raise ValueError(
                f"{value} MB is below what a worker holds when idle: every worker would recycle "
                f"as it starts; give at least {MIN_WORKER_MEMORY_MB}, or unset it"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value():
            return None
        scheme = url.get_secret_value().split("://", 1)[0]
        if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError(
                f"scheme {scheme!r} is not PostgreSQL; use postgresql://user:pass@host:5432/db"
            )
        return url

    @field_validator("cache_url")
    @classmethod
    def _redis_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value():
            return None
        scheme = url.get_secret_value().split("://", 1)[0]
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(
                f"scheme {scheme!r} is not Redis; use redis://host:6379/0 (or unset it)"
            )
        return url

    @model_validator(mode="after")
    def _prod_debug_needs_token(self) -> Settings:
        if self.environment == "prod" and self.debug_enabled and self.debug_token is None:
            raise ValueError(
                f"debug endpoints are enabled in prod without a token: set {ENV_PREFIX}DEBUG_TOKEN "
                f"or {ENV_PREFIX}DEBUG_ENABLED=false"
            )
        return self

    @property
    def active_request_limit(self) -> int:
        """max_active_requests, or its default from the pool; 0: no limit."""
        if self.max_active_requests is not None:
            return self.max_active_requests
        return ACTIVE_REQUESTS_PER_CONNECTION * (self.db_pool_size + self.db_max_overflow)

    @property
    def debug_access(self) -> bool:
        if self.debug_enabled is not None:
            return self.debug_enabled
        return self.environment == "dev" or self.debug_token is not None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and .env; a validation error becomes one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            info = Settings.model_fields.get(field)
            name = f"{ENV_PREFIX}{field.upper()}" if info else "settings"
            hint = f" (it sets: {info.description})" if info and info.description else ""
            lines.append(f"  {name}: {problem['msg']}{hint}")
        raise SettingsError(
            "invalid settings (fix the environment or .env):\n" + "\n".join(lines)
        ) from None

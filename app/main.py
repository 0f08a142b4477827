"""create_app(settings) builds the service; ``app`` is the ASGI entry for uvicorn and gunicorn."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.pool import AsyncAdaptedQueuePool

from app import speedups
from app.errors import install_error_handlers
from app.lifespan import lifespan
from app.logs import install_logging
from app.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, RequestMetricsMiddleware
from app.ops import debug
from app.routes import export, health, items, jobs, metrics, notify
from app.serving.admission import AdmissionLimit, Turns
from app.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
    # the app's own loggers; handlers belong to the server (uvicorn/gunicorn) or the test runner
    logging.getLogger("app").setLevel(settings.log_level.upper())
    install_logging()
    app = FastAPI(
        title="leakproof",
        summary="A FastAPI service with every memory-leak fix built in.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.poolclass = AsyncAdaptedQueuePool  # SQLAlchemy's own; the speed-ups swap theirs in
    install_error_handlers(app)
    # the last added runs first: the request id is known before a body is refused
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    if settings.active_request_limit:
        # a request waits for its turn holding only what the server read; its wait is timed
        # and a refusal counted by the metrics around it
        app.state.turns = Turns(
            settings.active_request_limit,
            settings.max_queued_requests,
            patience_s=settings.db_pool_timeout_s,
        )
        app.add_middleware(AdmissionLimit, turns=app.state.turns)
    # outermost: a request refused at the edge (413, 503) is counted too
    app.add_middleware(RequestMetricsMiddleware)
    # export before items: /items/export must not be read as /items/{item_id}
    app.include_router(export.router)
    app.include_router(items.build_list_route(settings.page_size_max))
    app.include_router(items.router)
    app.include_router(notify.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(debug.router)
    if settings.speedups:
        speedups.install(app)
    return app


app = create_app()

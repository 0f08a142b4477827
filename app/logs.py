"""The app's log lines: each record carries the request id, and they reach stderr by default.

uvicorn and gunicorn configure their own loggers only, so without a handler the ``app`` logger's
INFO lines (shutdown, jobs) would be dropped and its warnings printed bare by logging's last
resort. When nothing else handles them (no handler on ``app`` or the root logger, as under both
servers), one stderr handler is added; a deployment with its own logging config keeps it.
"""

from __future__ import annotations

import logging
from typing import Any

from app.middleware import current_request_id

APP_LOGGER = "app"
# request_id is safe to print as is: app/middleware.py accepts only [A-Za-z0-9._-]{1,64}
FORMAT = "%(levelname)s:     %(name)s [request %(request_id)s] %(message)s"

_factory_installed = False


def install_logging() -> None:
    """Give every record a ``request_id`` (``-`` outside a request) and the app a handler."""
    global _factory_installed
    if not _factory_installed:
        _factory_installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.request_id = current_request_id.get()
            return record

        # a record factory rather than a filter: a filter on the ``app`` logger does not run
        # for records of its children (``app.errors``), and the handlers belong to the server
        logging.setLogRecordFactory(factory)
    logger = logging.getLogger(APP_LOGGER)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)

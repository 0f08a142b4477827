"""gunicorn settings from the same Settings as the app: `gunicorn -c gunicorn.conf.py app.main:app`.

Worker recycling (max_requests + jitter) is the safety net that bounds a leaking worker's
memory to a saw tooth; it hides leaks, it does not fix them.
"""

import os
import tempfile

from app.lifespan import database_url
from app.metrics import MULTIPROC_ENV, mark_worker_dead
from app.settings import ENV_PREFIX, load_settings

_settings = load_settings()

worker_class = "uvicorn_worker.UvicornWorker"
workers = _settings.workers
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
graceful_timeout = _settings.graceful_timeout_s
timeout = _settings.worker_timeout_s
loglevel = _settings.log_level
bind = os.environ.get("BIND", "127.0.0.1:8000")
# a deep backlog: connections that arrive while a recycled worker is replaced wait, not fail
backlog = 2048


def on_starting(_server: object) -> None:
    # The arbiter, not each worker, owns the embedded PostgreSQL and the metrics folder, so
    # workers share one database and recycling a worker never stops it.
    if not os.environ.get(f"{ENV_PREFIX}DATABASE_URL"):
        os.environ[f"{ENV_PREFIX}DATABASE_URL"] = database_url(_settings)
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="leakproof-metrics-")


def child_exit(_server: object, worker: object) -> None:
    mark_worker_dead(worker.pid)  # type: ignore[attr-defined]

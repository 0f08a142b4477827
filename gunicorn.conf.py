"""gunicorn settings from the same Settings as the app: `gunicorn -c gunicorn.conf.py app.main:app`.

Worker recycling is the safety net that bounds a leaking worker's memory to a saw tooth: after
max_requests (+ jitter), or past a memory budget (LEAKPROOF_MAX_WORKER_MEMORY_MB, see
app/serving/memory_budget.py) before a container's limit is reached. It hides leaks, it does not
fix them.
"""

import os
import shutil
import tempfile

# prometheus_client chooses between single- and multi-process values once, when it is first
# imported (the app imports below do it), and workers inherit that choice: the folder must be
# known before then. The metrics folder made here is removed by on_exit.
_made_metrics_dir: list[str] = []
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leakproof-metrics-")
    _made_metrics_dir.append(os.environ["PROMETHEUS_MULTIPROC_DIR"])

from app.dev.database import database_url  # noqa: E402
from app.ops.metrics import MULTIPROC_ENV, mark_worker_dead, reset_multiprocess_dir  # noqa: E402
from app.serving.memory_budget import BudgetError, MemoryBudget, memory_budget, rss_bytes  # noqa: E402
from app.settings import ENV_PREFIX, load_settings  # noqa: E402

_settings = load_settings()
# the per-worker memory budget, chosen by the arbiter once the worker count is final
_budget: list[MemoryBudget] = []

# uvicorn-worker's worker, with a shutdown that answers the connections it accepted
# (app/serving/worker.py)
worker_class = "app.serving.worker.Worker"
workers = _settings.workers
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
graceful_timeout = _settings.graceful_timeout_s
timeout = _settings.worker_timeout_s
loglevel = _settings.log_level
bind = os.environ.get("BIND", "127.0.0.1:8000")
# a deep backlog: connections that arrive while a recycled worker is replaced wait, not fail
backlog = 2048
# gunicorn 25+ opens a control socket at one fixed path per user ($XDG_RUNTIME_DIR/gunicorn.ctl):
# two servers on one machine (both builds of the lab, tests) would fight over it, and nothing here
# uses gunicornc.
control_socket_disable = True


def on_starting(server: object) -> None:
    # the worker count may come from the command line (--workers), so the budget is chosen here
    workers: int = server.cfg.workers  # type: ignore[attr-defined]
    try:
        budget = memory_budget(_settings, workers=workers, reserved_bytes=rss_bytes())
    except BudgetError as error:
        raise SystemExit(f"leakproof: {error}") from None
    if budget is not None:
        _budget.append(budget)
        server.log.info(  # type: ignore[attr-defined]
            "memory budget per worker: %.0f MB (+ up to 5%% jitter each), from %s",
            budget.bytes / 2**20,
            budget.source,
        )
    # The arbiter, not each worker, owns the embedded PostgreSQL and the metrics folder, so
    # workers share one database and recycling a worker never stops it.
    if not os.environ.get(f"{ENV_PREFIX}DATABASE_URL"):
        os.environ[f"{ENV_PREFIX}DATABASE_URL"] = database_url(_settings)
    # a folder given by the environment (a container's, a volume) may hold a previous run's files
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
    reset_multiprocess_dir(os.environ[MULTIPROC_ENV])


def post_fork(_server: object, worker: object) -> None:
    # each worker accepts a burst of connections without a wait per connection
    worker.accepts_per_turn = _settings.accepts_per_turn  # type: ignore[attr-defined]
    # each worker draws its own jitter, so workers that grow alike do not drain together
    if _budget:
        worker.memory_limit_bytes = _budget[0].jittered()  # type: ignore[attr-defined]


def child_exit(_server: object, worker: object) -> None:
    mark_worker_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(_server: object) -> None:
    # the metrics folder made above goes with the server; one given by the environment stays
    for folder in _made_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)

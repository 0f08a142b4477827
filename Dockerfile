# The service image (the default target) and the load lab's image (--target lab).
#
#   docker build -t leakproof .                    gunicorn serving app.main:app on :8000
#   docker build --target lab -t leakproof-lab .   the same plus locust, for the load lab
#
# Every setting comes from the environment (LEAKPROOF_*; BIND for the address): see
# docs/containers.md. Dependencies are exactly those of uv.lock.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment from the lock file, then the project into it --------------
FROM ${PYTHON_IMAGE} AS build
# uv from its official PyPI wheel, the same version the Makefile pins
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
WORKDIR /srv/leakproof
# The dependencies first, alone: this layer is rebuilt only when the lock file changes.
# --no-default-groups leaves out the dev and lab groups (pyproject makes both default).
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-default-groups --no-install-project
COPY alembic.ini gunicorn.conf.py ./
COPY alembic ./alembic
COPY app ./app
COPY load ./load
RUN uv sync --frozen --no-dev --no-default-groups \
    && .venv/bin/python -m compileall -q app load alembic

# ---- lab: the build plus locust, for the compose file's load generator ----------------------
FROM build AS lab
RUN uv sync --frozen --no-dev --no-default-groups --group lab
ENV PATH=/srv/leakproof/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
# the locust web UI and its reports belong to no user of the host: a numeric id, no login
USER 10001:10001
EXPOSE 8089
CMD ["locust", "-f", "load/locust/locustfile.py", "--web-host", "0.0.0.0"]

# ---- runtime: a slim image with the environment and the code, run as a user without rights --
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 leakproof \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin leakproof
WORKDIR /srv/leakproof
COPY --from=build /srv/leakproof /srv/leakproof
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own arena (up to 8 per core)
# and keeps what is freed in it, so a process's RSS climbs in steps that look like a leak and
# never come back. Two arenas cost a little allocation speed for a flat, honest RSS: the
# memory figures this project judges leaks by. Raise it for allocation-heavy threaded code.
# PROMETHEUS_MULTIPROC_DIR: the workers' /metrics files (gunicorn.conf.py empties it at start).
ENV PATH=/srv/leakproof/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/leakproof-metrics \
    BIND=0.0.0.0:8000 \
    LEAKPROOF_ENVIRONMENT=prod
# numeric, so a runtime that checks runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
EXPOSE 8000
# no curl in a slim image: the standard library asks the liveness endpoint
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]
# gunicorn is PID 1 and handles SIGTERM itself: workers finish their requests (graceful_timeout)
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]

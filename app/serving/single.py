"""One worker without gunicorn: uvicorn's own server, on a listening socket watched as
``accepts_per_turn`` asks (app/serving/accept.py).

``leakproof serve`` runs it, and so does ``python -m app.serving TARGET`` (what the bench starts).
Under gunicorn the worker class does the same with gunicorn's sockets (app/serving/worker.py).
"""

from __future__ import annotations

import uvicorn

from app.serving.accept import watched


def serve(
    target: str,
    *,
    host: str,
    port: int,
    accepts_per_turn: int,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve the ASGI app ``target`` ("module:attribute") until a signal stops it."""
    config = uvicorn.Config(
        target, host=host, port=port, log_level=log_level, access_log=access_log
    )
    listener = config.bind_socket()  # logs where it listens, as uvicorn.run does
    uvicorn.Server(config).run(sockets=watched([listener], accepts_per_turn))

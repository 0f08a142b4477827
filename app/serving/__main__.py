"""``python -m app.serving TARGET [--host H] [--port P]``: one worker, as ``leakproof serve`` runs
it but with no database set up first (app/serving/single.py)."""

from __future__ import annotations

import argparse

from app.serving.single import serve
from app.settings import SettingsError, load_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serving", description=__doc__)
    parser.add_argument("target", help="the ASGI app, module:attribute (e.g. app.main:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args()
    try:
        settings = load_settings()
    except SettingsError as error:
        raise SystemExit(f"python -m app.serving: {error}") from None
    serve(
        args.target,
        host=args.host,
        port=args.port,
        accepts_per_turn=settings.accepts_per_turn,
        log_level=settings.log_level,
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()

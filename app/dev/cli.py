"""The ``leakproof`` command: serve, db, and the commands other parts of the project add.

Subcommands from the load lab and the leaky twin (compare, soak, bench, leaks) arrive through
the ``leakproof.commands`` entry-point group, so this module imports neither: delete them and
the rest still works.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from app.dev import embedded_postgres, migrations
from app.dev.database import database_url
from app.settings import ENV_PREFIX, Settings, SettingsError, load_settings

COMMANDS_GROUP = "leakproof.commands"
BUILDS = {"fixed": "app.main:app", "leaky": "app.leaky.main:app"}
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"

Runner = Callable[[argparse.Namespace], int]


def fail(message: str) -> int:
    print(f"leakproof: {message}", file=sys.stderr)
    return 2


def prepare_database(settings: Settings, *, migrate: bool) -> str:
    """Resolve the URL (starting the embedded server if needed), migrate, and export the URL
    so that server processes started from here use the same database."""
    url = database_url(settings)
    where = "configured" if settings.database_url is not None else f"embedded, {settings.data_dir}"
    print(f"PostgreSQL: {where}", file=sys.stderr)
    if migrate:
        migrations.upgrade(url)
    os.environ[f"{ENV_PREFIX}DATABASE_URL"] = url
    return url


def run_serve(args: argparse.Namespace) -> int:
    target = BUILDS[args.build]
    if importlib.util.find_spec(target.split(":")[0].rsplit(".", 1)[0]) is None:
        return fail(f"the {args.build} build is not part of this project")
    settings = load_settings()
    prepare_database(settings, migrate=not args.no_migrate)
    if args.server == "uvicorn":
        from app.serving.single import serve

        print(f"serving the {args.build} build on http://{args.host}:{args.port}", file=sys.stderr)
        serve(
            target,
            host=args.host,
            port=args.port,
            accepts_per_turn=settings.accepts_per_turn,
            log_level=settings.log_level,
        )
        return 0
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(GUNICORN_CONF),
        target,
        "--bind",
        f"{args.host}:{args.port}",
    ]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    if args.max_requests is not None:
        command += ["--max-requests", str(args.max_requests)]
    # gunicorn runs as a child so that this process, which holds the embedded server, outlives it
    with subprocess.Popen(command) as server:
        try:
            return server.wait()
        except BaseException:
            server.terminate()
            return server.wait()


def run_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.action == "migrate":
        prepare_database(settings, migrate=True)
        print("migrated to head", file=sys.stderr)
    elif args.action == "downgrade":
        migrations.downgrade(prepare_database(settings, migrate=False), args.revision)
        print(f"downgraded to {args.revision}", file=sys.stderr)
    elif args.action == "url":
        print(prepare_database(settings, migrate=False))
    elif args.action == "psql":
        url = prepare_database(settings, migrate=False)
        psql = shutil.which("psql") or str(embedded_postgres.bin_dir() / "psql")
        return subprocess.call([psql, url])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakproof", description="A FastAPI service with every memory-leak fix built in."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the service (embedded PostgreSQL if no URL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--build", choices=sorted(BUILDS), default="fixed")
    serve.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    serve.add_argument("--workers", type=_positive, help="gunicorn workers (default: settings)")
    serve.add_argument(
        "--max-requests", type=_non_negative, help="recycle a worker after K requests"
    )
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema first")
    serve.set_defaults(run=run_serve)

    db = commands.add_parser("db", help="database: migrate, downgrade, url, psql")
    db.add_argument("action", choices=["migrate", "downgrade", "url", "psql"])
    db.add_argument("--revision", default="base", help="downgrade target (default: base)")
    db.set_defaults(run=run_db)

    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            add_command = entry.load()
        except ImportError as error:  # a part of the project that was removed
            missing = commands.add_parser(entry.name, help=f"(unavailable: {error})")
            missing.set_defaults(run=_unavailable(entry.name, error))
            continue
        add_command(commands)
    return parser


def _unavailable(name: str, error: ImportError) -> Runner:
    def run(_args: argparse.Namespace) -> int:
        return fail(f"{name!r} is unavailable: {error}. Its part of the project is not installed.")

    return run


def _positive(value: str) -> int:
    number = _non_negative(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    embedded_postgres.exit_on_signals()
    args = build_parser().parse_args(argv)
    run: Runner = args.run
    try:
        return run(args)
    except (SettingsError, embedded_postgres.EmbeddedPostgresError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The options that say what a run serves, and the builds they make.

- ``soak --app MODULE:ATTR``: any ASGI app, from ``--app-dir`` (default: the current folder),
  driven by ``--locustfile``; ``--env KEY=VALUE`` for its server; ``--database-url`` for the
  pg_stat_activity of its database.
- ``compare --a SPEC --b SPEC``: two apps (``MODULE:ATTR``) or two revisions of the current git
  repository (``git:REF``), or one of each, under the same load and settings. ``--app-dir``
  applies to both (``--a-dir`` / ``--b-dir`` for one); in a revision it is the same folder,
  relative to the repository, checked out at that revision.

Everything that can be checked without starting anything is checked here: the spec's form, the
revision's existence, the option's value. A ValueError (or RevisionError) is the one line the
command prints.
"""

from __future__ import annotations

import argparse
import re
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from load.lab import Opener, as_is
from load.run import revisions
from load.run.config import LabConfig
from load.run.locust_process import LOCUSTFILE
from load.run.target import APP_PATTERN, ROOT, TEMPLATE_APP, Target, slug_of, template_build

GIT_PREFIX = "git:"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not ENV_NAME.match(key):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (a variable name, '=', its value): e.g. "
            "--env DATABASE_URL=postgresql://..."
        )
    return key, value


def app_spec(text: str) -> str:
    if not APP_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not MODULE:ATTR (e.g. main:app, service.api:app)"
        )
    return text


def build_spec(text: str) -> str:
    if text.startswith(GIT_PREFIX):
        if not text.removeprefix(GIT_PREFIX).strip():
            raise argparse.ArgumentTypeError(f"{text!r} names no revision: git:HEAD~1, git:main")
        return text
    if not APP_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither MODULE:ATTR nor git:REF (e.g. main:app, git:HEAD~1)"
        )
    return text


def add_app_options(parser: argparse.ArgumentParser) -> None:
    """What both commands take to serve an app of your own."""
    parser.add_argument(
        "--app",
        type=app_spec,
        help="serve this ASGI app (MODULE:ATTR) instead of this project's; "
        "with compare's git: specs, the app in each revision",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=Path(),
        help="the folder --app imports from (default: the current folder)",
    )
    parser.add_argument(
        "--locustfile",
        type=Path,
        help="the locustfile that drives the app (default: this project's, for its own app)",
    )
    parser.add_argument(
        "--env",
        type=env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the app's server (repeat for more)",
    )
    parser.add_argument(
        "--database-url",
        help="the app's PostgreSQL, whose pg_stat_activity the lab samples (its own setting "
        "still goes with --env)",
    )


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """compare's two builds: a before and an after."""
    for side in ("a", "b"):
        parser.add_argument(
            f"--{side}",
            type=build_spec,
            metavar="SPEC",
            help=f"build {side}: MODULE:ATTR or git:REF of the current repository"
            + (" (before)" if side == "a" else " (after: is it flat?)"),
        )
        parser.add_argument(f"--{side}-dir", type=Path, help=f"--app-dir for build {side} alone")


@dataclass(frozen=True)
class Served:
    """What the options say about the app, common to the builds of one run."""

    app: str | None
    locustfile: Path | None
    env: tuple[tuple[str, str], ...]
    database_url: str | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Served:
        return cls(
            app=args.app,
            locustfile=args.locustfile.resolve() if args.locustfile else None,
            env=tuple(args.env),
            database_url=args.database_url,
        )

    def app_target(
        self, name: str, slug: str, app: str, app_dir: Path, revision: str | None = None
    ) -> Target:
        """An app of the user's: it needs its own locustfile."""
        if self.locustfile is None:
            raise ValueError(
                f"{name} is not this project's app: give --locustfile FILE, the locustfile "
                "that drives it (this project's drives only its own routes)"
            )
        return Target(
            name=name, slug=slug, app=app, app_dir=app_dir.resolve(), locustfile=self.locustfile,
            env=self.env, database_url=self.database_url, revision=revision,
        )  # fmt: skip


def soak_openers(args: argparse.Namespace, config: LabConfig) -> list[Opener]:
    """soak's one build: this project's (``--build``), or ``--app``."""
    if args.app is None:
        if args.locustfile is not None or args.env or args.database_url:
            raise ValueError(
                "--locustfile, --env and --database-url go with --app MODULE:ATTR "
                "(this project's builds get the lab's own)"
            )
        return [as_is(template_build(args.build or "fixed", config))]
    if args.build is not None or args.scenarios is not None:
        raise ValueError("--build and --scenarios choose this project's builds: not with --app")
    return [as_is(Served.of(args).app_target(args.app, slug_of(args.app), args.app, args.app_dir))]


def compare_openers(args: argparse.Namespace, config: LabConfig) -> list[Opener]:
    """compare's two builds, a then b: without specs, the fixed build and the leaky twin."""
    if args.a is None and args.b is None:
        if args.app is not None or args.locustfile is not None or args.env or args.database_url:
            raise ValueError(
                "--app, --locustfile, --env and --database-url go with --a SPEC --b SPEC "
                "(the fixed build and the twin get the lab's own)"
            )
        return [as_is(template_build(name, config)) for name in ("fixed", "leaky")]
    if args.a is None or args.b is None:
        raise ValueError("give both --a SPEC and --b SPEC (MODULE:ATTR or git:REF)")
    if args.scenarios is not None:
        raise ValueError("--scenarios chooses the twin's leaks: not with --a and --b")
    dirs = {side: getattr(args, f"{side}_dir") or args.app_dir for side in ("a", "b")}
    specs = {"a": args.a, "b": args.b}
    names = dict(specs)
    if args.a == args.b:  # one app in two folders: each named by its folder too
        if dirs["a"].resolve() == dirs["b"].resolve():
            raise ValueError(f"--a and --b are both {args.a}: compare two different builds")
        names = {side: f"{specs[side]} ({dirs[side]})" for side in specs}
    served = Served.of(args)
    return [opener(specs[side], names[side], side, dirs[side], served) for side in ("a", "b")]


def opener(spec: str, name: str, slug: str, app_dir: Path, served: Served) -> Opener:
    """A build of compare: an app as it is, or a revision checked out when the run starts.
    ``name``: the spec, and its folder when both specs are the same."""
    if not spec.startswith(GIT_PREFIX):
        return as_is(served.app_target(name, slug, spec, app_dir))
    ref = spec.removeprefix(GIT_PREFIX)
    repo = revisions.repository(Path.cwd())
    commit = revisions.commit_of(repo, ref)
    try:
        inside = (Path.cwd() / app_dir).resolve().relative_to(repo)
    except ValueError:
        raise ValueError(
            f"--app-dir {app_dir} is outside the repository {repo}: a git: spec serves a folder "
            "of the repository"
        ) from None
    template = served.app is None
    if template and repo != ROOT:
        raise ValueError(
            f"{spec}: {repo} is not this project: give --app MODULE:ATTR, the app to serve "
            "from each revision"
        )
    differ = revisions.lock_files_differ(repo, commit)
    if differ:
        print(
            f"leakproof: warning: {' and '.join(differ)} "
            f"{'differs' if len(differ) == 1 else 'differ'} between {spec} and the working "
            "tree; the revision runs in the current environment all the same",
            file=sys.stderr,
        )

    def open_revision(stack: ExitStack) -> Target:
        folder = stack.enter_context(revisions.checked_out(repo, commit)) / inside
        if template:
            return Target(
                name=name, slug=slug, app=TEMPLATE_APP, app_dir=folder, template=True,
                locustfile=served.locustfile or LOCUSTFILE,
                env=served.env, revision=commit,
            )  # fmt: skip
        return served.app_target(name, slug, served.app or TEMPLATE_APP, folder, commit)

    return open_revision

"""What one build of a lab run serves: this project's app (the fixed build, the twin, or a revision
of it checked out from git) or any ASGI app, and the locustfile that drives it.

The rest of the lab asks the target rather than the build's name: where the app imports from,
how to tell it is ready, what it can say about itself, which connections are its own.

- This project's app (``template``) gets the lab's database (migrated and seeded), its settings
  (``LEAKPROOF_*``), readiness at ``/health/ready``, and the inside view of ``/metrics`` and the
  ``/debug`` routes.
- Any other app needs none of that: it is ready once its port answers HTTP (any status), what the
  lab learns from inside comes from the probe (heap blocks, asyncio tasks, a full collection after
  the load), and ``pg_stat_activity`` is sampled only when its database URL is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from load.run.config import LabConfig
from load.run.locust_process import LOCUSTFILE, lab_locustfiles

ROOT = Path(__file__).resolve().parents[2]
# locust loads this file beside a locustfile that is not the lab's own: it brings the lab's
# warm-up shape, progress file and stop file without the user importing anything
BUILD_APPS = {"fixed": "app.main:app", "leaky": "app.leaky.main:app"}
TEMPLATE_APP = BUILD_APPS["fixed"]
APP_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
READY_PATH = "/health/ready"


@dataclass(frozen=True)
class Target:
    """One build of a run: the app it serves and the load that drives it."""

    name: str  # as the report and summary.json name it: fixed, leaky, mod:app, git:HEAD~1
    slug: str  # in file names: server-<slug>.log, probe-<slug>/, locust-<slug>_stats.csv
    app: str  # MODULE:ATTR
    app_dir: Path  # where the module imports from: the server's working directory
    locustfile: Path = LOCUSTFILE
    template: bool = False  # this project's app: database, settings, /health/ready, /debug
    leaks: str | None = None  # the twin's scenarios (LEAKPROOF_LEAKS); None: not the twin
    env: tuple[tuple[str, str], ...] = ()  # --env KEY=VALUE, for the server
    database_url: str | None = None  # an app's own database, for pg_stat_activity (--database-url)
    revision: str | None = None  # the commit checked out for a git: spec

    @property
    def lab_load(self) -> bool:
        """Driven by the lab's own locustfile (its fixed users, its seeded ids)."""
        return self.locustfile.resolve() == LOCUSTFILE

    @property
    def locustfiles(self) -> tuple[Path, ...]:
        """What locust loads: the lab's locustfile imports the lab's hooks itself; any other
        gets them in a second file (``-f yours.py,with_lab.py``)."""
        return lab_locustfiles(self.locustfile)

    @property
    def ready_path(self) -> str:
        """Readiness: this project's probe, or any answer at all from another app."""
        return READY_PATH if self.template else "/"

    @property
    def gunicorn_config(self) -> Path | None:
        """The app's own gunicorn settings (gunicorn reads ./gunicorn.conf.py by default too);
        without one, the lab runs uvicorn's gunicorn worker with gunicorn's defaults."""
        config = self.app_dir / "gunicorn.conf.py"
        return config if config.is_file() else None

    def connections(self, lab_database_url: str | None) -> tuple[str | None, str | None]:
        """The database whose pg_stat_activity is sampled, and the application_name pattern of
        the build's rows there (None: every client of that database but the lab itself)."""
        if self.template:
            return lab_database_url, f"leakproof-{self.slug}:%"
        return self.database_url, None

    def describe(self) -> dict[str, object]:
        """What summary.json says was served."""
        return {
            "app": self.app,
            "app_dir": str(self.app_dir),
            "locustfile": str(self.locustfile),
            "this_project": self.template,
            "env": [key for key, _ in self.env],  # names only: values may be secrets
            "revision": self.revision,
        }


def template_build(build: str, config: LabConfig) -> Target:
    """The fixed build or the leaky twin of this checkout, as ``compare`` and ``soak`` ran them."""
    return Target(
        name=build,
        slug=build,
        app=BUILD_APPS[build],
        app_dir=ROOT,
        template=True,
        leaks=config.leaks_env if build == "leaky" else None,
    )


def slug_of(name: str) -> str:
    """A file-name-safe form of a build's name (``mod:app`` -> ``mod-app``)."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-.") or "app"

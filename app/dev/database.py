"""Which PostgreSQL the service uses: the configured URL, or else the embedded server's.

Resolved once by what starts the service (``leakproof serve``, gunicorn's arbiter, alembic), never
by the lifespan: the workers receive the URL in ``LEAKPROOF_DATABASE_URL`` and share one database.
"""

from __future__ import annotations

from app.dev import embedded_postgres
from app.settings import Settings

EMBEDDED_DATABASE = "leakproof"


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started or joined) when none is set."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_postgres.start(settings.data_dir, EMBEDDED_DATABASE)

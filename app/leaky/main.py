"""The leaky twin's ASGI entry: ``app.leaky.main:app`` (``leakproof serve --build leaky``).

``create_leaky_app`` builds the fixed app (``app.main.create_app``, named ``leakproof-leaky`` so its
connections are ``leakproof-leaky:<pid>`` in pg_stat_activity) and installs the chosen
scenarios of the catalogue, each through FastAPI's own seams. ``LEAKPROOF_LEAKS`` chooses them:
``all`` (the default) or a comma list of ids; ``leakproof leaks`` lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import FastAPI
from pydantic import Field, ValidationError, field_validator

from app.leaky.catalogue import ALL, SCENARIOS, parse_leaks, shadowed
from app.main import create_app
from app.settings import ENV_PREFIX, Settings, SettingsError

logger = logging.getLogger(__name__)

APP_NAME = "leakproof-leaky"


class LeakySettings(Settings):
    app_name: str = Field(
        APP_NAME,
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="The twin's name, so its connections and keys are told from the fixed app's.",
    )
    leaks: str = Field(
        ALL, description="Leaks the twin switches on: all, or a comma list (leakproof leaks)."
    )

    @field_validator("leaks")
    @classmethod
    def _known_leaks(cls, leaks: str) -> str:
        return ",".join(parse_leaks(leaks))


def load_leaky_settings(**overrides: object) -> LeakySettings:
    """Settings plus ``leaks``; a bad value stops the start with one message naming the fix."""
    try:
        return LeakySettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = [
            f"  {ENV_PREFIX}{'.'.join(map(str, problem['loc'])).upper()}: "
            + problem["msg"].removeprefix("Value error, ")
            for problem in error.errors()
        ]
        raise SettingsError(
            "invalid settings (fix the environment or .env):\n" + "\n".join(lines)
        ) from None


def create_leaky_app(
    settings: Settings | None = None, leaks: str | Iterable[str] | None = None
) -> FastAPI:
    """The fixed app with one fix swapped for its anti-pattern per chosen scenario."""
    settings = settings if settings is not None else load_leaky_settings()
    if leaks is None:
        leaks = settings.leaks if isinstance(settings, LeakySettings) else ALL
    try:
        chosen = parse_leaks(leaks)
    except ValueError as error:
        raise SettingsError(f"{ENV_PREFIX}LEAKS: {error}") from None
    if "app_name" not in settings.model_fields_set:
        settings = settings.model_copy(update={"app_name": APP_NAME})  # unless named explicitly
    app = create_app(settings)
    app.title = "leakproof (leaky twin)"
    app.summary = f"The fixed service with these leaks switched on: {', '.join(chosen)}."
    app.state.leaks = chosen
    for leak in chosen:
        SCENARIOS[leak].install(app)
    for leak, (route, hidden_by) in shadowed(chosen).items():
        logger.warning(
            "leak %s is hidden on %s by %s; choose it alone to see it",
            leak,
            route,
            ", ".join(hidden_by),
        )
    return app


async def release_leaks(app: FastAPI) -> None:
    """For tests: give back what the chosen scenarios kept (connections, tasks, engines)."""
    for leak in reversed(app.state.leaks):
        await SCENARIOS[leak].release(app)


app = create_leaky_app()

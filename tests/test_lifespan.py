"""The lifespan closes what it made, also when start-up fails half way, and uses the database
URL it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from app import lifespan
from app.main import create_app
from app.settings import SettingsError
from tests.support.fixtures import SettingsFactory


async def test_a_start_up_that_fails_late_closes_the_engine_it_already_made(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}
    real_create_engine = getattr(lifespan, "create_engine")  # noqa: B009 - the name patched below

    def recording_create_engine(*args: Any, **kwargs: Any) -> Any:
        made["engine"] = real_create_engine(*args, **kwargs)
        made["pool"] = made["engine"].pool
        return made["engine"]

    def broken_metrics() -> None:
        raise RuntimeError("metrics could not start")

    monkeypatch.setattr(lifespan, "create_engine", recording_create_engine)
    monkeypatch.setattr(lifespan, "Metrics", broken_metrics)
    app = create_app(make_settings())
    with pytest.raises(RuntimeError, match="metrics could not start"):
        async with LifespanManager(app):
            pass
    assert made["engine"].pool is not made["pool"]  # dispose() replaced the pool: it was closed


async def test_the_lifespan_receives_a_url_and_never_starts_a_database_itself(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LEAKPROOF_DATABASE_URL", raising=False)
    app = create_app(make_settings(database_url=None, data_dir=tmp_path))
    with pytest.raises(SettingsError, match=r"LEAKPROOF_DATABASE_URL.*leakproof serve"):
        async with LifespanManager(app):
            pass
    assert not (tmp_path / "pgdata").exists()  # resolving one is the entry's job (app/dev)

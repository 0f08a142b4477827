from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError, load_settings


def test_defaults_are_dev_with_debug_on_and_no_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEAKPROOF_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.environment == "dev"
    assert settings.debug_access is True
    assert settings.database_url is None


def test_an_invalid_value_names_the_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAKPROOF_DB_POOL_SIZE", "lots")
    monkeypatch.setenv("LEAKPROOF_CACHE_TTL_S", "-1")
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert "LEAKPROOF_DB_POOL_SIZE" in message
    assert "valid integer" in message
    assert "LEAKPROOF_CACHE_TTL_S" in message


def test_a_database_url_of_another_kind_is_refused_with_the_expected_form() -> None:
    with pytest.raises(SettingsError, match="postgresql://"):
        load_settings(_env_file=None, database_url="mysql://root@localhost/db")


def test_prod_with_debug_enabled_needs_a_token() -> None:
    with pytest.raises(SettingsError, match="LEAKPROOF_DEBUG_TOKEN"):
        load_settings(_env_file=None, environment="prod", debug_enabled=True)


def test_prod_hides_debug_unless_a_token_is_set() -> None:
    assert load_settings(_env_file=None, environment="prod").debug_access is False
    with_token = load_settings(_env_file=None, environment="prod", debug_token="s3cret")
    assert with_token.debug_access is True


def test_the_database_url_never_shows_in_the_settings_repr() -> None:
    settings = load_settings(_env_file=None, database_url="postgresql://u:hunter2@db/x")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_a_pool_recycle_of_zero_is_refused_with_the_value_for_never() -> None:
    with pytest.raises(SettingsError, match="-1 for never"):
        load_settings(_env_file=None, db_pool_recycle_s=0)

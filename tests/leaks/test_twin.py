"""The twin itself: chosen by a setting, same paths and bodies as the fixed build, listed by
``leakproof leaks``."""

from __future__ import annotations

import pytest

from app.dev.cli import main as leakproof
from app.leaky import (
    aborted_stream,
    allocator_retention,
    schema_per_call,
    stream_holds_session,
    unstreamed_export,
)
from app.leaky.catalogue import SCENARIOS, parse_leaks, shadowed
from app.leaky.main import APP_NAME, LeakySettings, create_leaky_app, load_leaky_settings
from app.main import create_app
from app.settings import SettingsError
from tests.leaks.conftest import FIXED, LEAKY, Start
from tests.leaks.signals import seed_items
from tests.support.fixtures import SettingsFactory

CATALOGUE = [
    "unclosed-session",
    "global-state",
    "di-singleton",
    "orphan-tasks",
    "unstreamed-export",
    "stream-holds-session",
    "engine-per-request",
    "aborted-stream",
    "threadpool-deadlock",
    "allocator-retention",
    "exception-retention",
    "client-per-request",
    "metrics-cardinality",
    "schema-per-call",
]


def test_catalogue_holds_every_scenario_in_order() -> None:
    assert list(SCENARIOS) == CATALOGUE
    assert parse_leaks("all") == tuple(CATALOGUE)
    assert parse_leaks(" global-state, orphan-tasks ") == ("global-state", "orphan-tasks")


def test_unknown_leak_stops_the_start_with_the_valid_ids(make_settings: SettingsFactory) -> None:
    with pytest.raises(SettingsError) as stopped:
        create_leaky_app(make_settings(), "orphan-tasks,leaky-faucet")
    message = str(stopped.value)
    assert "LEAKPROOF_LEAKS" in message
    assert "'leaky-faucet'" in message
    assert all(leak in message for leak in CATALOGUE)


def test_leaks_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKPROOF_LEAKS", "di-singleton")
    assert load_leaky_settings(_env_file=None).leaks == "di-singleton"
    monkeypatch.setenv("LEAKPROOF_LEAKS", "nope")
    with pytest.raises(SettingsError, match=r"LEAKPROOF_LEAKS: .*unknown leak 'nope'"):
        load_leaky_settings(_env_file=None)


def test_all_leaks_is_the_default_and_the_fixed_app_is_untouched(
    make_settings: SettingsFactory,
) -> None:
    fixed_before = create_app(make_settings())
    twin = create_leaky_app(make_settings())
    fixed_after = create_app(make_settings())
    assert twin.state.leaks == tuple(CATALOGUE)
    assert twin.state.settings.app_name == APP_NAME
    assert not fixed_after.dependency_overrides
    assert len(fixed_after.router.routes) == len(fixed_before.router.routes)
    # the twin documents the same API: its own routes are hidden, the fixed ones stay
    assert twin.openapi()["paths"] == fixed_after.openapi()["paths"]


def test_leaky_settings_default_to_every_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEAKPROOF_LEAKS", raising=False)
    assert LeakySettings(_env_file=None).leaks == ",".join(CATALOGUE)


@pytest.mark.parametrize(
    "leak", [unstreamed_export.ID, stream_holds_session.ID, aborted_stream.ID, "all"]
)
async def test_twin_exports_the_same_bytes_as_the_fixed_build(
    leak: str, start_build: Start, database_url: str
) -> None:
    await seed_items(database_url, 120)
    bodies: dict[str, list[bytes]] = {}
    async with start_build(FIXED, leak) as fixed, start_build(LEAKY, leak) as twin:
        for running in (fixed, twin):
            bodies[running.build] = []
            for format in ("ndjson", "csv"):
                response = await running.client.get("/items/export", params={"format": format})
                assert response.status_code == 200, response.text
                bodies[running.build].append(response.content)
    assert bodies[LEAKY] == bodies[FIXED]
    assert bodies[FIXED][0].count(b"\n") == 120


def test_scenarios_sharing_a_route_say_which_one_answers() -> None:
    assert shadowed(CATALOGUE) == {
        stream_holds_session.ID: ("GET /items/export", (unstreamed_export.ID,)),
        allocator_retention.ID: ("GET /items", (schema_per_call.ID,)),
    }
    assert shadowed([allocator_retention.ID, stream_holds_session.ID]) == {}


@pytest.mark.parametrize("leak", [schema_per_call.ID, allocator_retention.ID, "all"])
async def test_twin_list_pages_are_the_fixed_builds(
    leak: str, start_build: Start, database_url: str
) -> None:
    ids = await seed_items(database_url, 12)
    pages: dict[str, list[object]] = {}
    async with start_build(FIXED, leak) as fixed, start_build(LEAKY, leak) as twin:
        for running in (fixed, twin):
            pages[running.build] = []
            for after in (0, ids[4], ids[9]):
                response = await running.client.get("/items", params={"limit": 5, "after": after})
                assert response.status_code == 200, response.text
                pages[running.build].append(response.json())
    assert pages[LEAKY] == pages[FIXED]
    assert [page["next_after"] for page in pages[FIXED]] == [ids[4], ids[9], None]  # type: ignore[index]


def test_leaks_command_lists_every_scenario_with_its_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert leakproof(["leaks"]) == 0
    listing = capsys.readouterr().out
    for scenario in SCENARIOS.values():
        assert scenario.id in listing
        assert scenario.fix in listing

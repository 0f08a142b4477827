"""docker-compose.yml, checked without a Docker engine: the compose-spec JSON schema validates
it, and it is held to what docs/containers.md promises (migrations before the apps, real
settings, ports on loopback). The file is the workshop, so it needs the twin and the lab."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from app.leaky.main import LeakySettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# environment keys the compose file may set that are not Settings: the locustfile's own
LAB_ENVIRONMENT = {"LEAKPROOF_LAB_SEED_ITEMS"}


def compose_schema() -> dict[str, Any]:
    # the compose-spec schema as vendored (with its Apache-2.0 license) by check-jsonschema
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return schema


def compose_file() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(compose_schema())
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert schema_errors(compose_file()) == []


def test_the_schema_check_rejects_a_misspelt_key() -> None:
    broken = copy.deepcopy(compose_file())
    broken["services"]["app"]["depends_onn"] = broken["services"]["app"].pop("depends_on")
    assert any("depends_onn" in error for error in schema_errors(broken))


def test_the_workshop_starts_in_order() -> None:
    services = compose_file()["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "healthcheck" in postgres
    assert postgres["volumes"]
    assert services["migrate"]["command"] == ["leakproof", "db", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("app", "leaky"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert services["leaky"]["command"][-1] == "app.leaky.main:app"
    assert "LEAKPROOF_LEAKS" in services["leaky"]["environment"]
    locust = services["locust"]
    assert locust["build"]["target"] == "lab"
    assert "load/locust/locustfile.py" in locust["command"]
    assert (ROOT / "load" / "locust" / "locustfile.py").exists()
    assert "FROM build AS lab" in DOCKERFILE.read_text()
    assert services["redis"]["profiles"] == ["redis"]
    assert all("127.0.0.1:" in port for s in services.values() for port in s.get("ports", []))


@pytest.mark.parametrize("service", ["migrate", "app", "leaky"])
def test_every_setting_the_compose_file_sets_exists(service: str) -> None:
    environment = compose_file()["services"][service]["environment"]
    known = {f"LEAKPROOF_{name.upper()}" for name in LeakySettings.model_fields}
    unknown = {key for key in environment if key.startswith("LEAKPROOF_")} - known - LAB_ENVIRONMENT
    assert not unknown, f"{service} sets {unknown}, which no setting reads (a typo is ignored)"

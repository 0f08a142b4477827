"""Before anything starts: an app that does not import or is not ASGI, a locustfile that does not
import or has no users, each one line that names the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from load.run.config import LabConfig
from load.run.preflight import TargetError, check_app, check_locustfile
from load.run.target import Target, template_build
from tests.load.own_app import write_app


def target(folder: Path, app: str = "notes:app", locustfile: str = "locustfile.py") -> Target:
    return Target(
        name=app, slug="x", app=app, app_dir=folder, locustfile=folder / locustfile,
        env=(("NOTES_GREETING", "hi"),),
    )  # fmt: skip


def refused(check: Callable[[Target], None], build: Target) -> str:
    with pytest.raises(TargetError) as raised:
        check(build)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_an_app_and_its_locustfile_that_can_run_pass(tmp_path: Path) -> None:
    write_app(tmp_path, leaky=True)
    check_app(target(tmp_path))
    check_locustfile(target(tmp_path))


def test_this_project_s_build_and_locustfile_pass() -> None:
    fixed = template_build("fixed", LabConfig())
    check_app(fixed)
    check_locustfile(fixed)


def test_a_module_that_does_not_import_shows_the_error_s_last_line(tmp_path: Path) -> None:
    write_app(tmp_path, leaky=True)
    (tmp_path / "broken.py").write_text("import json\nimport notes_helpers_missing\n")
    message = refused(check_app, target(tmp_path, "broken:app"))
    assert message == (
        f"broken:app does not import from {tmp_path}: "
        "ModuleNotFoundError: No module named 'notes_helpers_missing'"
    )


def test_a_module_imports_with_its_env_and_from_its_folder(tmp_path: Path) -> None:
    """The check sees what the server will: --env, and the app's folder first on the path."""
    (tmp_path / "needs_env.py").write_text(
        "import os\nfrom notes import app\nassert os.environ['NOTES_GREETING'] == 'hi'\n"
    )
    write_app(tmp_path, leaky=False)
    check_app(target(tmp_path, "needs_env:app"))


def test_a_syntax_error_is_one_line_too(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text("app = (\n")
    assert "SyntaxError" in refused(check_app, target(tmp_path, "typo:app"))


def test_a_missing_attribute_is_named(tmp_path: Path) -> None:
    write_app(tmp_path, leaky=True)
    message = refused(check_app, target(tmp_path, "notes:application"))
    assert "has no attribute 'application'" in message
    assert "give MODULE:ATTR of your ASGI app" in message


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("app = {'routes': []}\n", "dict"),
        ("def app(scope):\n    return None\n", "function"),
        ("class Router:\n    pass\napp = Router()\n", "Router"),
    ],
)
def test_what_is_not_an_asgi_app_is_refused(tmp_path: Path, source: str, kind: str) -> None:
    (tmp_path / "odd.py").write_text(source)
    message = refused(check_app, target(tmp_path, "odd:app"))
    assert message.startswith(f"odd:app is a {kind}, not an ASGI app")


def test_an_app_dir_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    assert "is not a folder" in refused(check_app, target(tmp_path / "nowhere"))


def test_a_missing_locustfile_is_refused(tmp_path: Path) -> None:
    message = refused(check_locustfile, target(tmp_path, locustfile="missing.py"))
    assert message == (
        f"--locustfile {tmp_path / 'missing.py'}: no such .py file; "
        "give the path of your locustfile"
    )


def test_a_locustfile_that_does_not_import_shows_the_error(tmp_path: Path) -> None:
    (tmp_path / "locustfile.py").write_text("from locust import HttpUser\nimport notes_client\n")
    message = refused(check_locustfile, target(tmp_path))
    assert "ModuleNotFoundError: No module named 'notes_client'" in message


def test_a_locustfile_without_users_is_refused(tmp_path: Path) -> None:
    # HttpUser imported is abstract: locust would run nothing
    (tmp_path / "locustfile.py").write_text("from locust import HttpUser\nRATE = 5\n")
    assert "it defines no User class" in refused(check_locustfile, target(tmp_path))

"""What is served: this project's builds as before, any other app from its own folder."""

from __future__ import annotations

from pathlib import Path

from load.run.config import LabConfig
from load.run.locust_process import LOCUSTFILE, locust_command
from load.run.servers import ASGI_WORKER, server_command, server_env
from load.run.target import BUILD_APPS, LAB_HOOKS_FILE, ROOT, Target, slug_of, template_build


def own_app(folder: Path, **fields: object) -> Target:
    return Target(
        name="notes:app", slug="notes-app", app="notes:app", app_dir=folder,
        locustfile=folder / "locustfile.py", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_this_project_s_builds_are_served_as_they_were() -> None:
    config = LabConfig(scenarios=("orphan-tasks",))
    fixed, leaky = template_build("fixed", config), template_build("leaky", config)
    assert (fixed.app, fixed.app_dir, fixed.template, fixed.leaks) == (
        "app.main:app",
        ROOT,
        True,
        None,
    )
    assert (leaky.app, leaky.leaks) == (BUILD_APPS["leaky"], "orphan-tasks")
    assert fixed.locustfiles == (LOCUSTFILE,)  # the lab's locustfile imports its hooks itself
    assert fixed.ready_path == "/health/ready"
    assert fixed.connections("postgresql://lab") == ("postgresql://lab", "leakproof-fixed:%")
    env = server_env(leaky, config, "postgresql://lab")
    assert env["LEAKPROOF_APP_NAME"] == "leakproof-leaky"
    assert env["LEAKPROOF_LEAKS"] == "orphan-tasks"
    assert env["LEAKPROOF_DATABASE_URL"] == "postgresql://lab"
    assert fixed.gunicorn_config == ROOT / "gunicorn.conf.py"


def test_an_app_of_one_s_own_gets_the_lab_s_hooks_beside_its_locustfile(tmp_path: Path) -> None:
    target = own_app(tmp_path)
    assert target.locustfiles == (tmp_path / "locustfile.py", LAB_HOOKS_FILE)
    assert LAB_HOOKS_FILE.is_file()
    command = locust_command(LabConfig(), "http://127.0.0.1:1", tmp_path / "x", target.locustfiles)
    assert command[command.index("-f") + 1] == f"{tmp_path / 'locustfile.py'},{LAB_HOOKS_FILE}"
    assert not target.lab_load


def test_an_app_of_one_s_own_answers_at_all_and_counts_its_database_s_clients(
    tmp_path: Path,
) -> None:
    target = own_app(tmp_path, database_url="postgresql://app")
    assert target.ready_path == "/"
    assert target.connections("postgresql://lab") == ("postgresql://app", None)
    assert own_app(tmp_path).connections("postgresql://lab") == (None, None)


def test_an_app_of_one_s_own_imports_from_its_folder_under_the_lab_s_probe(tmp_path: Path) -> None:
    command = server_command(own_app(tmp_path), LabConfig(), 8123)
    # -P: the app's folder (a revision of this project holds a `load` of its own) cannot
    # shadow the lab's probe; the probe puts the folder first once it is imported
    assert command[1:7] == ["-P", "-m", "load.probe", "--path", str(tmp_path), "uvicorn"]
    assert command[7] == "notes:app"


def test_gunicorn_runs_uvicorn_s_worker_for_an_app_without_gunicorn_settings(
    tmp_path: Path,
) -> None:
    config = LabConfig(server="gunicorn", workers=3, max_requests=100)
    command = server_command(own_app(tmp_path), config, 8123)
    assert command[command.index("--worker-class") + 1] == ASGI_WORKER
    assert "-c" not in command
    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--max-requests") + 1] == "100"
    (tmp_path / "gunicorn.conf.py").write_text("workers = 1\n")
    with_settings = server_command(own_app(tmp_path), config, 8123)
    assert with_settings[with_settings.index("-c") + 1] == str(tmp_path / "gunicorn.conf.py")
    assert "--worker-class" not in with_settings


def test_an_app_of_one_s_own_gets_its_env_and_none_of_this_project_s_settings(
    tmp_path: Path,
) -> None:
    target = own_app(tmp_path, env=(("NOTES_LIMIT", "5"), ("MODE", "a=b")))
    env = server_env(target, LabConfig(), None, tmp_path / "probe")
    assert (env["NOTES_LIMIT"], env["MODE"]) == ("5", "a=b")
    assert env["LEAKPROOF_PROBE_DIR"] == str(tmp_path / "probe")
    assert "LEAKPROOF_APP_NAME" not in env
    assert "LEAKPROOF_DEBUG_ENABLED" not in env
    assert target.describe()["env"] == ["NOTES_LIMIT", "MODE"]  # names, never values


def test_a_build_s_name_becomes_a_file_name() -> None:
    assert slug_of("notes:app") == "notes-app"
    assert slug_of("service.api:app") == "service.api-app"
    assert slug_of("::") == "app"

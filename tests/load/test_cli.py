from __future__ import annotations

import math
from pathlib import Path

import pytest

from load.cli import run_compare, run_soak
from load.options import config_from
from load.run.config import DEFAULT, MIN_VERDICT_REQUESTS, QUICK, catalogue
from load.run.locust_process import LOCUSTFILE, locust_command, worker_command
from tests.load.lab_cli import parse

# a service generated without the twin has no scenarios to choose from
needs_the_twin = pytest.mark.skipif(not catalogue(), reason="the leaky twin is not here")


def test_compare_without_options_is_the_default_run_into_a_timestamped_folder() -> None:
    config = config_from(parse("compare"))
    assert (config.duration_s, config.users, config.server) == (
        DEFAULT.duration_s,
        DEFAULT.users,
        "uvicorn",
    )
    assert config.leaks_env == "all"
    assert config.chosen_scenarios == catalogue()
    assert config.out.parent == Path("reports")


def test_all_is_every_scenario() -> None:
    assert config_from(parse("compare", "--scenarios", "all")).scenarios is None


@needs_the_twin
def test_quick_and_explicit_options_combine() -> None:
    config = config_from(
        parse("compare", "--quick", "--scenarios", "orphan-tasks", "--server", "gunicorn")
    )
    assert config.duration_s == QUICK.duration_s
    assert config.scenarios == ("orphan-tasks",)
    assert config.server == "gunicorn"
    assert config.leaks_env == "orphan-tasks"


def test_a_duration_brings_its_own_warm_up() -> None:
    assert config_from(parse("compare", "--duration", "40")).warmup_s == 10
    assert config_from(parse("compare", "--duration", "40", "--warmup", "4")).warmup_s == 4


@needs_the_twin
def test_an_unknown_scenario_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("compare", "--scenarios", "orphan-task")
    error = capsys.readouterr().err
    assert "unknown scenario orphan-task" in error
    assert "orphan-tasks" in error


def test_a_warm_up_that_leaves_nothing_to_measure_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_compare(parse("compare", "--duration", "10", "--warmup", "9"))
    assert code == 2
    assert "lengthen --duration or shorten --warmup" in capsys.readouterr().err


def test_too_few_users_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # soak: the limit is the lab's, and soak runs with or without the twin
    code = run_soak(parse("soak", "--users", "3", "--out", str(tmp_path / "r")))
    assert code == 2
    assert "--users must be at least 7" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_max_duration_below_the_duration_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_compare(parse("compare", "--duration", "30", "--max-duration", "20"))
    assert code == 2
    assert "--max-duration (20 s) is shorter than --duration (30 s)" in capsys.readouterr().err


def test_the_probe_and_memray_are_options() -> None:
    default = config_from(parse("compare", "--quick"))
    assert default.attribution
    assert not default.memray
    assert default.load_cap_s == 3 * default.duration_s
    chosen = config_from(parse("soak", "--no-attribution", "--memray", "--max-duration", "90"))
    assert not chosen.attribution
    assert chosen.memray
    assert chosen.load_cap_s == 90


def test_a_slow_machine_runs_on_for_requests_unless_the_cap_was_given() -> None:
    default = config_from(parse("compare", "--quick"))
    assert default.cap_s(MIN_VERDICT_REQUESTS) == default.load_cap_s
    assert default.cap_s(MIN_VERDICT_REQUESTS - 1) == 6 * default.duration_s > default.load_cap_s
    chosen = config_from(parse("compare", "--quick", "--max-duration", "40"))
    assert chosen.cap_s(0) == chosen.slow_cap_s == 40


def test_memray_missing_is_one_line_naming_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("load.report.memray_capture.available", lambda: False)
    code = run_soak(parse("soak", "--memray", "--out", str(tmp_path / "r")))
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "pip install memray" in error
    assert not (tmp_path / "r").exists()


def test_locust_gets_whole_seconds_whatever_the_window() -> None:
    config = config_from(parse("compare", "--duration", "90"))
    command = locust_command(config, "http://127.0.0.1:1", Path("/tmp/x"))
    run_time = command[command.index("--run-time") + 1]
    assert run_time == f"{math.ceil(config.slow_cap_s + config.window_cap_s)}s"
    assert "." not in run_time  # locust refuses "283.5s"


def test_locust_workers_make_a_master_that_waits_for_them_and_workers_that_join_it() -> None:
    config = config_from(parse("soak", "--locust-workers", "3"))
    assert config.locust_workers == 3
    assert "locust master + 3 workers" in config.describe()
    master = locust_command(config, "http://127.0.0.1:1", Path("/tmp/x"), master_port=5599)
    assert master[master.index("--expect-workers") + 1] == "3"
    assert {"--master", "--headless", "--csv"} <= set(master)
    worker = worker_command((LOCUSTFILE,), 5599)
    assert worker[worker.index("--master-port") + 1] == "5599"
    assert worker[worker.index("-f") + 1] == str(LOCUSTFILE)
    # a worker's users, run time and statistics are the master's
    assert not {"--headless", "--csv", "--users", "--run-time"} & set(worker)
    assert "--master" not in locust_command(config_from(parse("soak")), "http://h", Path("/x"))


def test_locust_workers_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("compare", "--locust-workers", "0")
    assert "'0' is not a positive whole number" in capsys.readouterr().err

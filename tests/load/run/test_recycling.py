"""The lab under a memory budget: its options, the server settings they become, the counts read
from /metrics, the per-worker plot and the verdict's wording."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.serving.memory_budget import MB, container_memory_limit
from load.cli import add_compare_command, run_compare
from load.judge.verdict import judge_compare, judge_soak
from load.options import config_from
from load.report import plots
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.inside import Inside
from load.run.locust_process import LoadStats
from load.run.recycling import memory_env, recycle_reasons, recycles_by_requests
from load.run.servers import server_command
from load.run.target import template_build
from tests.load.judge.test_verdict import build
from tests.load.samples import series


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="leakproof")
    add_compare_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_max_memory_becomes_the_servers_budget_and_leaves_recycling_to_memory() -> None:
    config = config_from(parse("compare", "--server", "gunicorn", "--max-memory", "150"))
    assert memory_env(config) == {"LEAKPROOF_MAX_WORKER_MEMORY_MB": "150"}
    command = server_command(template_build("leaky", config), config, 8000)
    assert command[command.index("--max-requests") + 1] == "0"
    assert "max-memory 150" in config.describe()


def test_auto_writes_the_given_limit_where_the_server_reads_it(tmp_path: Path) -> None:
    args = parse(
        "compare", "--server", "gunicorn", "--max-memory", "auto", "--memory-limit", "400",
        "--out", str(tmp_path),
    )  # fmt: skip
    env = memory_env(config_from(args))
    assert env["LEAKPROOF_MAX_WORKER_MEMORY_MB"] == "auto"
    proc_cgroup = tmp_path / "cgroup-of-the-server"
    proc_cgroup.write_text("0::/system.slice/lab.service\n")
    root = Path(env["LEAKPROOF_CGROUP_ROOT"])
    assert container_memory_limit(root, proc_cgroup) == 400 * MB


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--max-memory", "150"], "add --server gunicorn"),
        (["--server", "gunicorn", "--max-memory", "auto"], "needs --memory-limit MB"),
        (["--server", "gunicorn", "--memory-limit", "400"], "needs --memory-limit MB"),
    ],
)
def test_an_incomplete_memory_option_is_refused_before_anything_starts(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_compare(parse("compare", *argv)) == 2
    assert problem in capsys.readouterr().err


def test_a_budget_below_an_idle_worker_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("compare", "--max-memory", "20")
    assert "at least 64" in capsys.readouterr().err


def test_recycle_counts_come_from_metrics_by_reason() -> None:
    inside = Inside()
    inside.read_metrics(
        "# TYPE leakproof_worker_recycles_total counter\n"
        'leakproof_worker_recycles_total{reason="requests"} 2.0\n'
        'leakproof_worker_recycles_total{reason="memory"} 7.0\n'
        'leakproof_asyncio_tasks{pid="11"} 5.0\n',
        None,
    )
    assert inside.recycles == {"requests": 2.0, "memory": 7.0}
    assert inside.tasks == {11: 5.0}


def test_each_ended_life_gets_its_reason(tmp_path: Path) -> None:
    log = tmp_path / "server-leaky.log"
    log.write_text(
        "WARNING:     app.serving.worker [request -] worker 101 recycled by memory: RSS 151\n"
    )
    lives = {101: (0.0, 10.0), 102: (0.0, 12.0), 103: (10.5, 30.0)}
    assert recycle_reasons(lives, 30.0, log, max_requests=False) == {101: "memory", 102: "ended"}
    assert recycle_reasons(lives, 30.0, log, max_requests=True)[102] == "requests"


@pytest.mark.parametrize(
    ("max_requests", "max_memory", "expected"),
    [(None, None, True), (None, 150, False), (500, 150, True), (0, None, False)],
)
def test_whether_a_run_recycles_by_requests(
    max_requests: int | None, max_memory: int | None, expected: bool
) -> None:
    config = LabConfig(server="gunicorn", max_requests=max_requests, max_memory=max_memory)
    assert recycles_by_requests(config) is expected


def test_the_verdict_says_recycling_by_memory_bounded_the_leak() -> None:
    fixed = build(memory_budget="150 MB", memory_recycles=0)
    leaky = build(rss_slope_mb_per_10k=40.0, memory_budget="150 MB", memory_recycles=6)
    verdict = judge_compare(fixed, leaky)
    reasons = verdict.as_json()["reasons"]
    assert verdict.ok, reasons
    assert "fixed: no recycle was needed: no worker reached its budget (150 MB)" in reasons
    assert any(
        r.startswith("leaky: recycling by memory bounded a leak: 6 workers") for r in reasons
    )
    assert any("0 failed requests" in r for r in reasons)


def test_a_fixed_build_recycled_by_memory_fails() -> None:
    verdict = judge_soak("fixed", build(memory_budget="80 MB", memory_recycles=3))
    assert not verdict.ok
    assert "fixed: 3 workers recycled by memory" in verdict.headline


def test_without_a_budget_the_verdict_says_nothing_of_memory_recycles() -> None:
    reasons = judge_compare(build(), build(rss_slope_mb_per_10k=40.0)).as_json()["reasons"]
    assert not any("recycl" in reason for reason in reasons)


def lives_run(build_name: str) -> BuildRun:
    """Two workers; worker 1 is recycled at sample 20 and replaced by worker 3."""
    samples = series(40, rss=lambda i: 80.0 + (i % 20) * 3, pids=lambda i: [1 if i < 20 else 3, 2])
    for sample in samples:
        sample.worker_rss_mb = dict(sample.worker_anon_mb)
    return BuildRun(
        target=template_build(build_name, LabConfig()),
        samples=samples,
        progress=[(s.ts, int(s.requests), 0) for s in samples],
        load=LoadStats(requests=4000, failures=0, requests_per_s=400.0),
        worker_restarts=1,
        growth={},
        load_seconds=10.0,
    )


def test_the_per_worker_plot_draws_each_life(tmp_path: Path) -> None:
    (tmp_path / "server-leaky.log").write_text("worker 1 recycled by memory: RSS 140 MB\n")
    config = LabConfig(server="gunicorn", max_memory=140, out=tmp_path)
    path = plots.worker_memory([lives_run("fixed"), lives_run("leaky")], config, tmp_path / "w.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert path.stat().st_size > 10_000

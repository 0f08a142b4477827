from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import Any

from app.settings import Settings
from load.judge.verdict import judge_compare
from load.report import plots, report
from load.report.summary import build_summary, run_settings
from load.run.build_run import BuildRun
from load.run.config import LabConfig
from load.run.locust_process import LoadStats
from load.run.target import template_build
from tests.load.samples import series

STABLE_BUILD_KEYS = {
    "requests",
    "failures",
    "rss_slope_mb_per_10k",
    "peak_pool_checked_out",
    "peak_db_connections",
    "peak_tasks",
    "worker_restarts",
}


def fake_run(build: str, grow_mb_per_sample: float) -> BuildRun:
    samples = series(40, rss=lambda i: 100.0 + i * grow_mb_per_sample, warmup=8)
    samples[-1].phase = "settled"
    progress = [(s.ts, int(s.requests), 0) for s in samples]
    load = LoadStats(requests=int(samples[-1].requests), failures=3, requests_per_s=400.0)
    load.top_failures = [("/items/[id]", "HTTPError('503 Server Error')", 3)]
    return BuildRun(
        target=template_build(build, LabConfig()),
        samples=samples,
        progress=progress,
        load=load,
        worker_restarts=0,
        growth={"objects": [{"type": "dict", "count": 9000, "delta": 4000}]},
        load_seconds=10.0,
    )


def write_everything(out: Path) -> dict[str, Any]:
    config = LabConfig(out=out)
    settings = Settings(_env_file=None, database_url="postgresql://lab@localhost/lab")
    runs = [fake_run("fixed", 0.0), fake_run("leaky", 0.5)]
    builds = {run.build: build_summary(run, config, settings) for run in runs}
    summary = {
        "mode": "compare",
        "started_at": "2026-11-24T10:00:00",
        "settings": run_settings(config, settings, "configured"),
        "builds": builds,
        "verdict": judge_compare(builds["fixed"], builds["leaky"]).as_json(),
    }
    figures = plots.draw_all(runs, out)
    report.write_summary(summary, out)
    report.write_samples(runs, out)
    report.write_markdown(summary, figures, out)
    report.write_html(summary, figures, out)
    return summary


def test_summary_json_keeps_the_names_scripts_read(tmp_path: Path) -> None:
    write_everything(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for build in ("fixed", "leaky"):
        assert set(summary["builds"][build]) >= STABLE_BUILD_KEYS
    assert isinstance(summary["verdict"]["ok"], bool)
    assert all(isinstance(reason, str) for reason in summary["verdict"]["reasons"])
    assert summary["verdict"]["ok"] is True
    # 0.5 MB per sample of 100 requests: 50 MB per 10k; the flat build: 0
    assert summary["builds"]["leaky"]["rss_slope_mb_per_10k"] == 50.0
    assert summary["builds"]["fixed"]["rss_slope_mb_per_10k"] == 0.0


def test_a_fixed_server_that_died_fails_with_how_it_ended_and_its_log(tmp_path: Path) -> None:
    config = LabConfig(out=tmp_path)
    settings = Settings(_env_file=None, database_url="postgresql://lab@localhost/lab")
    died = fake_run("fixed", 0.0)
    died.server_died, died.server_ended = True, "killed by SIGSEGV"
    fixed = build_summary(died, config, settings)
    verdict = judge_compare(fixed, build_summary(fake_run("leaky", 0.5), config, settings))
    assert not verdict.ok
    expected = "fixed: the server died during the run (killed by SIGSEGV); see server-fixed.log"
    assert expected in verdict.reasons


def test_samples_csv_has_every_sample_of_every_build(tmp_path: Path) -> None:
    write_everything(tmp_path)
    with (tmp_path / "samples.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 80
    assert {row["build"] for row in rows} == {"fixed", "leaky"}
    assert tuple(rows[0]) == report.SAMPLE_COLUMNS
    assert rows[-1]["phase"] == "settled"


def test_plots_are_png_files(tmp_path: Path) -> None:
    write_everything(tmp_path)
    for name in ("memory", "connections", "tasks", "failures"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def test_report_html_is_self_contained(tmp_path: Path) -> None:
    write_everything(tmp_path)
    page = (tmp_path / "report.html").read_text()
    embedded = page.count('src="data:image/png;base64,')
    assert embedded == 4
    assert 'src="http' not in page
    assert "<link" not in page
    first = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")
    assert "PASS" in page


def test_report_md_shows_verdict_table_failures_and_objects(tmp_path: Path) -> None:
    summary = write_everything(tmp_path)
    text = (tmp_path / "report.md").read_text()
    for reason in summary["verdict"]["reasons"]:
        assert f"- {reason}" in text
    assert "| RSS slope MB / 10k requests | 0.00 | 50.00 |" in text
    assert "HTTPError('503 Server Error')" in text
    assert "dict: +4000" in text
    assert "![memory](memory.png)" in text
    assert "share these" in text  # the generator shares the CPUs: said beside the figures

from __future__ import annotations

import sys
from pathlib import Path

import load.cli  # noqa: F401 - imported for its side effects on sys.modules
from load.run.locust_process import read_progress, read_stats

STATS_HEADER = (
    '"Type","Name","Request Count","Failure Count","Median Response Time",'
    '"Average Response Time","Min Response Time","Max Response Time","Average Content Size",'
    '"Requests/s","Failures/s","50%","66%","75%","80%","90%","95%","98%","99%","99.9%",'
    '"99.99%","100%"'
)


def test_the_lab_never_imports_locust_or_gevent() -> None:
    # import locust monkey-patches the process with gevent: it lives in its own process only
    assert "locust" not in sys.modules
    assert "gevent" not in sys.modules


def test_progress_lines_are_read_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    progress = tmp_path / "progress.txt"
    progress.write_text("100.0 0 0\n100.25 40 1\n100.5 9")
    assert read_progress(progress) == [(100.0, 0, 0), (100.25, 40, 1)]
    assert read_progress(tmp_path / "missing.txt") == []


def test_stats_come_from_the_aggregated_row(tmp_path: Path) -> None:
    (tmp_path / "locust-fixed_stats.csv").write_text(
        STATS_HEADER + "\n"
        "GET,/items/[id],900,2,19,26.6,1,300,400,90.1,0.2,19,22,25,27,33,40,60,90,200,300,300\n"
        ",Aggregated,1000,3,20,29.8,1,310,410,100.5,0.3,20,23,26,28,35,42,70,140,250,310,310\n"
    )
    (tmp_path / "locust-fixed_failures.csv").write_text(
        '"Method","Name","Error","Occurrences"\n'
        "GET,/items/[id],\"HTTPError('503 Server Error')\",2\n"
        "POST,/jobs,\"HTTPError('503 Server Error')\",1\n"
    )
    stats = read_stats(tmp_path / "locust-fixed")
    assert (stats.requests, stats.failures, stats.requests_per_s) == (1000, 3, 100.5)
    assert (stats.p50_ms, stats.p99_ms) == (20.0, 140.0)
    assert stats.top_failures[0] == ("/items/[id]", "HTTPError('503 Server Error')", 2)


def test_missing_stats_are_zero_not_a_crash(tmp_path: Path) -> None:
    stats = read_stats(tmp_path / "never-written")
    assert (stats.requests, stats.failures, stats.p99_ms) == (0, 0, None)

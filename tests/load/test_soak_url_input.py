"""``leakproof soak --url``: bad input is one line that names the fix, exit 2, before any load
(no report folder, no locust). The service is a stub of the test's own on a loopback port."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from load.cli import add_soak_command, run_soak
from tests.support.servers import free_port
from tests.support.stub_service import stub_service

PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
METRICS = "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 8.3e+07\n"
NO_MEMORY = "# TYPE http_requests_total counter\nhttp_requests_total 12\n"
ROUTES = {
    "/metrics": (200, PROMETHEUS, METRICS),
    "/health": (200, "application/json", '{"status": "ok"}'),
    "/app-metrics": (200, PROMETHEUS, NO_MEMORY),
    "/private": (401, "text/plain", "who are you?"),
}


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with stub_service(ROUTES) as url:
        yield url


def soak(tmp_path: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="leakproof")
    add_soak_command(parser.add_subparsers(dest="command", required=True))
    return run_soak(parser.parse_args(["soak", "--out", str(tmp_path / "report"), *argv]))


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = soak(tmp_path, *argv)
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith("leakproof: ")
    assert "\n" not in error
    assert not (tmp_path / "report").exists()  # refused before anything was written or started
    return error


def test_an_unreachable_url_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = refused(tmp_path, capsys, "--url", url)
    assert f"{url} cannot be reached" in error
    assert "check the address and that the service is running" in error


def test_a_metrics_path_that_404s_names_the_option(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(tmp_path, capsys, "--url", service, "--metrics-path", "/prometheus")
    assert f"{service}/prometheus answered 404" in error
    assert "--metrics-path" in error


def test_a_path_that_is_not_prometheus_text_is_refused(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(tmp_path, capsys, "--url", service, "--metrics-path", "/health")
    assert f"{service}/health is not Prometheus text (application/json" in error
    assert "give --metrics-path the path of the service's Prometheus metrics" in error


def test_metrics_without_a_memory_gauge_name_the_collector_to_add(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(tmp_path, capsys, "--url", service, "--metrics-path", "/app-metrics")
    assert "has no process_resident_memory_bytes" in error
    assert "ProcessCollector" in error


def test_metrics_behind_credentials_are_refused(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(tmp_path, capsys, "--url", service, "--metrics-path", "/private")
    assert "answered HTTP 401" in error


@pytest.mark.parametrize(
    "options",
    [
        ("--server", "gunicorn"), ("--workers", "4"), ("--memray",), ("--no-attribution",),
        ("--build", "leaky"), ("--max-requests", "0"), ("--app", "mod:app"), ("--env", "A=1"),
    ],
    ids=lambda options: options[0],
)  # fmt: skip
def test_options_that_choose_how_the_lab_serves_are_refused_with_url(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...]
) -> None:
    error = refused(tmp_path, capsys, "--url", service, *options)
    assert f"--url drives a service the lab did not start: {options[0]}" in error
    assert "drop them, or soak without --url" in error


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--url", "127.0.0.1:8000"), "is not an http(s) address"),
        (("--url", "{service}", "--metrics-path", "metrics"), "must start with /"),
        (("--url", "{service}", "--locustfile", "/nowhere/locustfile.py"), "no such file"),
        (("--url", "{service}", "--users", "3"), "--users must be at least 7"),
        (
            ("--url", "{service}", "--database-url", "postgresql://nobody@127.0.0.1:1/none"),
            "--database-url: cannot connect",
        ),
    ],
    ids=["no scheme", "relative metrics path", "missing locustfile", "too few users", "database"],
)
def test_other_bad_input_names_the_fix(
    service: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    expected: str,
) -> None:
    error = refused(tmp_path, capsys, *(option.format(service=service) for option in options))
    assert expected in error

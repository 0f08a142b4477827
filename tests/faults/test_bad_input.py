"""schemathesis against the OpenAPI schema, every operation, on a real server: zero server
errors, and every answer conforms to the schema (status codes, content types, bodies).

Two of schemathesis's checks are left out, on purpose: ``unsupported_method`` and
``allow_header_conformance`` judge methods the schema does not declare (OPTIONS /items, PATCH
/items/export), which Starlette's router answers with 405 or the neighbouring route's 422; that
is routing, not the contract the schema describes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.servers import running
from tests.support.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.faults

EXAMPLES_PER_OPERATION = 40
SEED = "20261124"  # fixed, so a CI failure replays; change it to explore further
CHECKS_LEFT_OUT = "unsupported_method,allow_header_conformance"


def test_every_operation_answers_generated_input_without_a_server_error_and_as_documented(
    server_database: str, log_dir: Path
) -> None:
    # a loopback receiver, so POST /items/{id}/notify is exercised on its real path
    with (
        webhook_receiver() as receiver,
        running("uvicorn", server_database, log_dir, LEAKPROOF_WEBHOOK_URL=receiver.url) as server,
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                CHECKS_LEFT_OUT,
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                SEED,
                "--workers",
                "1",
                "--request-timeout",
                "10",
                "--suppress-health-check",
                "all",
            ],
            capture_output=True,
            text=True,
            cwd=log_dir,  # hypothesis keeps its example database in the working directory
            timeout=300,
            check=False,
        )
        output = server.output()
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(summary)
    assert result.returncode == 0, result.stdout[-6000:] + output[-4000:]
    assert "Selected: 14/14" in summary or "Tested:" in summary
    assert " 500 " not in output
    assert "Traceback" not in output


def test_an_oversized_body_is_refused_before_the_server_holds_it(
    server_database: str, log_dir: Path
) -> None:
    """64 MiB offered in chunks to a real uvicorn: 413, and its memory barely moves."""
    offered = 64 * 1024 * 1024
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        while sent < offered:
            sent += 65_536
            yield b" " * 65_536

    with running("uvicorn", server_database, log_dir) as server:
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss
        status: int | str
        try:
            response = httpx.post(
                f"{server.url}/items",
                content=chunks(),
                headers={"content-type": "application/json"},
                timeout=30,
            )
            status = response.status_code
        except httpx.HTTPError as error:  # the server may close while the body is still sent
            status = type(error).__name__
        grown_mb = (process.memory_info().rss - before) / 2**20
        still_serving = httpx.get(f"{server.url}/health/live", timeout=10).status_code
    print(f"{offered >> 20} MiB offered, {sent >> 20} MiB sent: {status}; RSS +{grown_mb:.1f} MB")
    assert status in (413, "WriteError", "RemoteProtocolError", "ReadError")
    assert sent < offered or status == 413
    assert grown_mb < 8  # nowhere near the 64 MiB offered
    assert still_serving == 200

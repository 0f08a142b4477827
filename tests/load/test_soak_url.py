"""End to end: ``leakproof soak --url`` against a service the test started itself (the fixed
build), as it would be against staging: the lab starts no server and no database, judges from
/metrics and /debug/stats, and says what it could not see. Bounded (``--max-duration``) to stay
under two minutes on a shared machine.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from tests.load.soak_url import soak_url
from tests.support.servers import running


def test_the_fixed_build_from_outside_gets_a_verdict_and_what_was_not_seen(
    seeded: str, tmp_path: Path
) -> None:
    with running("uvicorn", seeded, tmp_path) as server:
        code, output, summary = soak_url(
            server, tmp_path / "report", "--duration", "16", "--max-duration", "32", "--users", "8"
        )
        rss_now_mb = psutil.Process(server.process.pid).memory_info().rss / 2**20
    assert code in (0, 1, 3), output  # a verdict: PASS, FAIL or INCONCLUSIVE, never "cannot run"
    service = summary["builds"]["service"]
    assert summary["verdict"]["outcome"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert service["requests"] > 100
    assert service["kind"] in ("flat", "inconclusive", "memory-growth", "object-leak",
                               "allocator-retention", "resource-leak", "peak-memory")  # fmt: skip
    # the memory is the server's own, as its metrics gave it
    assert abs(service["rss_end_mb"] - rss_now_mb) < 15
    assert service["heap_measure"] == "gc objects (/debug/stats)"
    assert service["leak_sites"] == []
    assert summary["settings"]["url"] == server.url
    # what could not be seen, in the summary, the report and on the terminal
    not_seen = summary["not_seen"]
    assert any(line.startswith("no attribution") for line in not_seen)
    assert any("give --database-url" in line for line in not_seen)
    assert any(line.startswith("USS") for line in not_seen)
    assert "## Not seen from outside" in (tmp_path / "report" / "report.md").read_text()
    assert "Not seen from outside:" in output
    assert "no attribution: the probe runs only inside a server the lab starts" in output

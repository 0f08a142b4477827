"""End to end: ``leakproof soak --url`` judges the twin's orphan-tasks leaking from outside, from
the asyncio tasks gauge in its /metrics (a project generated without the twin has no such test).
"""

from __future__ import annotations

from pathlib import Path

from tests.load.soak_url import soak_url
from tests.support.servers import running

JOBS_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class JobPoster(FastHttpUser):
    wait_time = constant(0.25)

    @task
    def post_job(self) -> None:
        self.client.post("/jobs", json={"kind": "items-summary"})
"""


def test_orphan_tasks_are_judged_leaking_from_outside(seeded: str, tmp_path: Path) -> None:
    """What the outside shows of this twin: the asyncio tasks gauge in /metrics keeps growing,
    and stays after the load. A locustfile of the test's own (it knows nothing of the lab) posts
    jobs only: in the project's mix, on a busy machine, the few jobs a run starts are lost among
    the tasks of requests in flight."""
    locustfile = tmp_path / "jobs_locustfile.py"
    locustfile.write_text(JOBS_LOCUSTFILE)
    with running(
        "uvicorn", seeded, tmp_path, target="app.leaky.main:app", LEAKPROOF_LEAKS="orphan-tasks"
    ) as server:
        code, output, summary = soak_url(
            server, tmp_path / "report", "--duration", "16", "--max-duration", "32",
            "--users", "4", "--locustfile", str(locustfile), "--database-url", seeded,
        )  # fmt: skip
    service = summary["builds"]["service"]
    assert code == 1, output
    assert service["kind"] == "resource-leak", service["kind_reasons"]
    assert "tasks" in service["leaked_resources"]
    assert summary["verdict"]["headline"].startswith("service: resource-leak")
    assert summary["settings"]["locustfile"] == str(locustfile)
    # with the database URL, the lab counted the connections itself
    assert service["peak_db_connections"] is not None
    assert not any("give --database-url" in line for line in summary["not_seen"])

"""End to end: the lab soaks the twin's global-state and names the line and the holder.

A real run of ``leakproof soak`` (its own embedded PostgreSQL, a server behind the probe, locust),
about a minute: the lab's attribution must find the deliberate leak in
app/leaky/global_state.py with no change to the app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load.lab_cli import lab_data_dir, run_cli

RUN_TIMEOUT_S = 420


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with lab_data_dir("lp-lab-") as folder:
        yield folder


def soak(data_dir: Path, out: Path, *options: str) -> tuple[int, dict[str, object]]:
    code, output = run_cli(
        ["soak", "--quick", "--out", str(out), *options], RUN_TIMEOUT_S,
        env={"LEAKPROOF_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary, output
    return code, summary


def test_a_soak_of_global_state_names_the_dict_its_write_and_the_line_that_made_it(
    data_dir: Path, tmp_path: Path
) -> None:
    # 40 s, not --quick's 20: the twin keeps one item per new item read, and on a slow day the
    # reads of 20 s kept less than the requests in flight held, so its heap looked "back"
    code, summary = soak(
        data_dir, tmp_path, "--build", "leaky", "--scenarios", "global-state", "--duration", "40"
    )
    leaky = summary["builds"]["leaky"]  # type: ignore[index]
    assert code == 1, summary["verdict"]  # a soak judges flat or not: the twin is not
    assert leaky["kind"] == "object-leak", leaky["kind_reasons"]
    # what it kept after the load, with what requests in flight held at warm-up's end added back
    assert leaky["heap_kept_after_load"]["blocks"] > 0, leaky["heap_kept_after_load"]
    held = {grown["type"]: grown for grown in leaky["growing_types"]}
    item = held["app.schemas.ItemRead"]
    assert item["held_by"] == "app.leaky.global_state._ITEMS (dict) -> ItemRead"
    assert [site.split(":")[0] for site in item["written_at"]] == ["app/leaky/global_state.py"]
    files = [site["file"] for site in leaky["leak_sites"]]
    # where the kept ItemRead objects were made: the plain read, or the speed-ups' driver read
    assert {"app/routes/items.py", "app/speedups/item_read.py"} & set(files)
    assert leaky["top_site"] is not None
    report = (tmp_path / "report.md").read_text()
    assert "## Where it grows" in report
    assert "app.leaky.global_state._ITEMS (dict) -> ItemRead" in report
    assert (tmp_path / "report.html").read_text().count("Where it grows") == 1

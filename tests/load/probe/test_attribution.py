"""Merging what each worker's probe found: sites by the app's own line, types with holders."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

from load.probe.attribution import ProbeChannel, collect, merge_sites, merge_types, site_frame

APP = Path("/srv/service")
LIBRARY = sysconfig.get_paths()["purelib"]
LOOP = sysconfig.get_paths()["stdlib"] + "/asyncio/runners.py"


def trace(size: int, count: int, *frames: tuple[str, int]) -> dict[str, object]:
    """A traceback as the probe writes it: frames from the oldest to the newest."""
    return {"size": size, "count": count, "frames": [list(frame) for frame in frames]}


def test_the_blamed_line_is_the_innermost_one_of_the_app() -> None:
    frames = [
        [f"{APP}/app/routes/items.py", 62],
        [f"{LIBRARY}/pydantic/main.py", 792],
    ]
    assert site_frame(frames, APP) == (f"{APP}/app/routes/items.py", 62)


def test_without_an_app_frame_the_innermost_frame_is_blamed() -> None:
    assert site_frame([[f"{LIBRARY}/uvicorn/server.py", 86], [LOOP, 118]], APP) == (LOOP, 118)


def test_sites_merge_across_workers_and_the_app_comes_first() -> None:
    first = {
        "tracebacks": [
            trace(3 * 2**20, 9000, (LOOP, 118)),
            trace(2**20, 500, (f"{APP}/app/kept.py", 49)),
        ]
    }
    second = {"tracebacks": [trace(2**20, 400, (f"{APP}/app/kept.py", 49))]}
    sites = merge_sites([first, second], APP)
    assert [(site["file"], site["line"]) for site in sites] == [
        ("app/kept.py", 49),  # relative to the app, and first: the reader's line
        (LOOP, 118),
    ]
    assert sites[0]["growth_mb"] == 2.0
    assert sites[0]["count"] == 900
    assert sites[0]["traceback"] == ["app/kept.py:49"]


def test_a_line_that_grew_in_many_blocks_comes_before_one_big_buffer() -> None:
    answer = {
        "tracebacks": [
            trace(230_000, 1, (f"{APP}/app/routes/export.py", 73)),  # an export's last chunk
            trace(80_000, 625, (f"{APP}/app/kept.py", 63)),  # a schema per request
        ]
    }
    sites = merge_sites([answer], APP)
    assert [(site["file"], site["line"]) for site in sites] == [
        ("app/kept.py", 63),
        ("app/routes/export.py", 73),  # still shown: one object that grows is growth too
    ]


def test_tiny_sites_are_noise_and_left_out() -> None:
    answer = {"tracebacks": [trace(1024, 3, (f"{APP}/app/routes/items.py", 10))]}
    assert merge_sites([answer], APP) == []


def test_types_sum_over_workers_and_keep_the_largest_holder() -> None:
    held = "app.kept._ITEMS (dict) -> ItemRead"
    first = {"types": [{"type": "app.schemas.ItemRead", "growth": 300, "held_by": held,
                        "written_at": [f"{APP}/app/kept.py:49"]},
                       {"type": "builtins.dict", "growth": 900, "held_by": None}]}  # fmt: skip
    second = {"types": [{"type": "app.schemas.ItemRead", "growth": 100, "held_by": None}]}
    types = merge_types([first, second], APP)
    assert types[0] == {
        "type": "app.schemas.ItemRead",
        "growth": 400,
        "held_by": held,
        "written_at": ["app/kept.py:49"],
    }
    assert types[1]["type"] == "builtins.dict"  # the app's types before builtin containers


def test_a_type_with_a_holder_comes_before_a_larger_one_without() -> None:
    held = "starlette_app.cached (_lru_cache_wrapper) -> dict -> tuple -> Request"
    answer = {
        "types": [
            {"type": "asyncpg.Record", "growth": 1000, "held_by": None},
            {"type": "starlette.requests.Request", "growth": 50, "held_by": held},
        ]
    }
    assert [t["type"] for t in merge_types([answer], APP)] == [
        "starlette.requests.Request",
        "asyncpg.Record",
    ]


def test_a_worker_that_does_not_answer_is_named_and_left_out(tmp_path: Path) -> None:
    channel = ProbeChannel(tmp_path)
    seq = channel.send("finish")
    assert json.loads((tmp_path / "command.json").read_text()) == {"seq": 1, "action": "finish"}
    (tmp_path / f"101-{seq}.json").write_text(
        json.dumps({"ok": True, "pid": 101, "held": {"bytes": 4096, "blocks": 2},
                    "tracebacks": [trace(2**20, 2, (f"{APP}/app/x.py", 3))], "types": []})
    )  # fmt: skip
    found = collect(channel, seq, [101, 202], APP, timeout_s=0.3)
    assert found.answered == [101]
    assert found.bytes_per_block == 2048
    assert found.sites[0]["file"] == "app/x.py"
    assert "202" in found.notes[0]
    assert "recycled" in found.notes[0]


def test_heap_lines_are_read_per_worker(tmp_path: Path) -> None:
    (tmp_path / "heap-7.txt").write_text("10.0 500 0\n10.1 520 1048576\n10.2 5")
    points = ProbeChannel(tmp_path).heap()
    assert [(p.pid, p.blocks) for p in points] == [(7, 500), (7, 520)]


def test_heap_lines_with_the_task_count_are_read_and_the_latest_count_is_summed(
    tmp_path: Path,
) -> None:
    (tmp_path / "heap-7.txt").write_text(
        "10.0 500 0 -\n10.1 520 0 3 gc\n10.2 530 0 4 gc end\n10.3 5"
    )
    (tmp_path / "heap-8.txt").write_text("10.0 400 0 -\n10.1 410 0 6\n")
    channel = ProbeChannel(tmp_path)
    assert [(p.pid, p.blocks, p.tasks, p.collected, p.label) for p in channel.heap({7})] == [
        (7, 500, None, False, ""),
        (7, 520, 3, True, ""),
        (7, 530, 4, True, "end"),
    ]
    assert channel.tasks([7, 8]) == 10  # the torn line of 7 is left out: its last whole line
    assert channel.tasks([9]) is None  # no such process
    (tmp_path / "heap-9.txt").write_text("10.0 400 0 -\n")
    assert channel.tasks([9]) is None  # its loop does not run yet

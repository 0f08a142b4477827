"""Prometheus text read with prometheus_client's parser: the values the lab takes, and what is
refused as not Prometheus text."""

from __future__ import annotations

import pytest

from load.run.metrics_text import parse

PAGE = """# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8.38e+07
# HELP leakproof_asyncio_tasks asyncio tasks in the event loop
# TYPE leakproof_asyncio_tasks gauge
leakproof_asyncio_tasks{pid="11"} 4.0
leakproof_asyncio_tasks{pid="12"} 6.0
# HELP leakproof_worker_recycles_total gunicorn workers recycled
# TYPE leakproof_worker_recycles_total counter
leakproof_worker_recycles_total{reason="requests"} 2.0
"""


def test_values_by_name_summed_and_by_label() -> None:
    scrape = parse(PAGE)
    assert scrape.first("process_resident_memory_bytes") == 8.38e7
    assert scrape.total("leakproof_asyncio_tasks") == 10.0
    assert scrape.by_label("leakproof_asyncio_tasks", "pid") == {"11": 4.0, "12": 6.0}
    # a counter's sample carries its _total name, as the page writes it
    assert scrape.by_label("leakproof_worker_recycles_total", "reason") == {"requests": 2.0}
    assert scrape.first("process_open_fds") is None
    assert scrape.total("process_open_fds") is None
    assert not scrape.has("process_open_fds")


@pytest.mark.parametrize(
    "text",
    ["<html><body><h1>Not Found</h1></body></html>", '{"status": "ok"}', "", "OK\n"],
    ids=["html", "json", "empty", "plain word"],
)
def test_what_is_not_prometheus_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse(text)

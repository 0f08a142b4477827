"""The lab's load: every leak scenario's trigger in a realistic mix.

- Shopper: item reads (half from a hot set, half across the whole table), list pages, an
  invalid item (422), and a create/read/patch/delete lifecycle that leaves the table as it
  found it (most of the traffic);
- JobRunner: POST /jobs and polls GET /jobs/{id} (background tasks);
- Exporter: whole exports, ndjson and csv (peak memory of an export);
- SlowReader: an export read at a trickle (a stream that pins what it holds);
- Aborter: a CSV export abandoned after its first KB (cleanup on disconnect);
- Notifier: POST /items/{id}/notify five times a second (an outbound webhook call per request);
- Probe: what the platform sends: readiness probes, a few a second, and a metrics scrape every
  few seconds (a scrape renders every series: with thousands, each one takes long).

Stream users, the notifier and the probe are one each (``fixed_count``), so a build with the
fixed export limit never sheds them; the rest of ``-u`` goes to shoppers and job runners by
weight.

Headless (what ``leakproof compare`` runs)::

    python -m locust -f load/locust/locustfile.py --headless -H http://127.0.0.1:8000 -u 20 -t 60s

Web UI (workshops): ``locust -f load/locust/locustfile.py -H http://127.0.0.1:8000``, open :8089.

Environment: LEAKPROOF_LAB_SEED_ITEMS (ids 1..N exist, default 20000), LEAKPROOF_LAB_PROGRESS
(a file this run appends "time requests failures" lines to, 4 times a second),
LEAKPROOF_LAB_MAX_REQUESTS (stop once that many requests are done), LEAKPROOF_LAB_STOP_FILE
(stop once that file exists: the lab's verdict is clear), LEAKPROOF_LAB_WARMUP_S
(run the first seconds at twice ``-u``: see WarmupThenSteady), LEAKPROOF_LAB_WORKERS (server
processes: with several, a job polled on another worker is not found, and that is no failure),
LEAKPROOF_LAB_SLOW_READERS (how many slow readers, default 1).
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections.abc import Iterator
from math import gcd
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, User, between, constant, task

from load.locust import lab_hooks
from load.locust.streams import StreamError, read_stream

SEED_ITEMS = int(os.environ.get("LEAKPROOF_LAB_SEED_ITEMS", "20000"))
HOT_ITEMS = max(1, min(500, SEED_ITEMS))  # reads concentrate here, as real traffic does
PAGE_SIZE = 50
# a long text pasted into a form (under the 10,000-character limit): what a rejected request
# carries, and what an error kept past its request keeps
INVALID_DESCRIPTION = "a description pasted into a form " * 280
JOB_POLLS = 20
SERVER_WORKERS = int(os.environ.get("LEAKPROOF_LAB_WORKERS") or 1)
SLOW_READERS = int(os.environ.get("LEAKPROOF_LAB_SLOW_READERS") or 1)


def _unread_ids() -> Iterator[int]:
    """Every id of the table once, in an order no cache can predict, then again.

    Reads that keep reaching items not read before are what makes a cache without a bound grow
    (a table smaller than the reads would bound it); a stride coprime with the table's size
    visits each id once per pass.
    """
    stride = next(
        n for n in range(SEED_ITEMS // 3 + 1, 2 * SEED_ITEMS + 2) if gcd(n, SEED_ITEMS) == 1
    )
    for n in itertools.count():
        yield (random_start + n * stride) % SEED_ITEMS + 1


random_start = random.randrange(SEED_ITEMS)
_UNREAD = _unread_ids()


class LabUser(FastHttpUser):
    """A FastHttpUser that retries an idempotent request once if its connection was dropped.

    Browsers and proxies do the same (RFC 9110 9.2.2); it matters when gunicorn recycles a
    worker, which closes its idle keep-alive connections. POST and PATCH are never retried.
    """

    abstract = True
    max_retries = 1  # geventhttpclient retries only idempotent methods, on EPIPE or no answer


class Shopper(LabUser):
    weight = 8
    wait_time = between(0.0, 0.01)

    @task(3)
    def read_hot_item(self) -> None:
        self.client.get(f"/items/{random.randint(1, HOT_ITEMS)}", name="/items/[id]")

    @task(3)
    def read_any_item(self) -> None:
        self.client.get(f"/items/{next(_UNREAD)}", name="/items/[id]")

    @task(2)
    def list_page(self) -> None:
        after = random.randint(0, max(0, SEED_ITEMS - PAGE_SIZE))
        self.client.get(f"/items?limit={PAGE_SIZE}&after={after}", name="/items?after=[n]")

    @task(1)
    def submit_invalid_item(self) -> None:
        # a client's bug the API answers with 422 (a negative price): an answer, not a failure
        with self.client.post(
            "/items",
            json={"name": "lab-invalid", "description": INVALID_DESCRIPTION, "price": -1},
            name="/items (invalid)",
            catch_response=True,
        ) as answer:
            if answer.status_code == 422:
                answer.success()

    @task(1)
    def item_lifecycle(self) -> None:
        created = self.client.post(
            "/items",
            json={
                "name": f"lab-{uuid.uuid4().hex}",
                "description": "made by the load lab and deleted right after",
                "price": round(random.uniform(1, 500), 2),
            },
        )
        if created.status_code != 201:
            return
        item_id = created.json()["id"]
        self.client.get(f"/items/{item_id}", name="/items/[id]")
        self.client.patch(f"/items/{item_id}", json={"price": 9.99}, name="/items/[id]")
        self.client.delete(f"/items/{item_id}", name="/items/[id]")


class JobRunner(LabUser):
    weight = 1
    wait_time = between(0.0, 0.05)

    @task
    def run_job(self) -> None:
        started = self.client.post("/jobs", json={"kind": "items-summary"})
        if started.status_code != 202:
            return
        job_id = started.json()["id"]
        for _ in range(JOB_POLLS):
            with self.client.get(
                f"/jobs/{job_id}", name="/jobs/[id]", catch_response=True
            ) as polled:
                if polled.status_code == 404 and SERVER_WORKERS > 1:
                    # jobs live in the worker that runs them; this poll reached another one
                    polled.success()
                    return
                if polled.status_code != 200 or polled.json().get("state") != "running":
                    return
            time.sleep(0.05)  # cooperative: locust monkey-patched time and threading


class Exporter(LabUser):
    fixed_count = 1
    wait_time = constant(1.0)

    @task
    def export_ndjson(self) -> None:
        self.client.get("/items/export?format=ndjson")

    @task
    def export_csv(self) -> None:
        self.client.get("/items/export?format=csv")


class _StreamUser(User):
    """A user on a raw socket that reports its downloads to locust's statistics."""

    abstract = True

    def stream(self, name: str, **reading: Any) -> None:
        host = str(self.host)
        address = urlsplit(host)
        started = time.perf_counter()
        exception: Exception | None = None
        length = 0
        try:
            result = read_stream(
                address.hostname or "127.0.0.1", address.port or 80, address.path + name, **reading
            )
            length = result.body_bytes
            # a 503 is an export cap shedding a stream it has no room for: the fix at work
            if result.status not in (200, 503):
                exception = StreamError(f"HTTP {result.status}")
        except (OSError, StreamError) as error:
            exception = error
        self.environment.events.request.fire(
            request_type="GET",
            name=f"{name} ({type(self).__name__})",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
            response=None,
            url=host + name,
        )


class SlowReader(_StreamUser):
    # one by default; more where the run is about streams that pin connections
    # (stream-holds-session: more slow readers than the pool has connections)
    fixed_count = SLOW_READERS
    wait_time = constant(0.1)

    @task
    def trickle(self) -> None:
        # ~200 KB/s for at most 15 s: the stream stays open while the client dawdles
        self.stream("/items/export?format=ndjson", chunk_bytes=4096, pause_s=0.02, stop_after_s=15)


class Aborter(_StreamUser):
    fixed_count = 1
    wait_time = between(0.1, 0.3)

    @task
    def hang_up(self) -> None:
        self.stream("/items/export?format=csv", chunk_bytes=4096, pause_s=0, stop_after_bytes=8192)


class Notifier(LabUser):
    """A webhook per item now and then: the outbound client's load (the lab runs the receiver).
    Five a second: a quick run's hundred-odd calls show a client kept per call above the
    fds a server has anyway (its pool, its libraries)."""

    fixed_count = 1
    wait_time = constant(0.2)

    @task
    def notify(self) -> None:
        with self.client.post(
            f"/items/{random.randint(1, HOT_ITEMS)}/notify",
            name="/items/[id]/notify",
            catch_response=True,
        ) as answer:
            if answer.status_code == 503 and "LEAKPROOF_WEBHOOK_URL" in answer.text:
                answer.success()  # a server started without a webhook (the web UI, by hand)


# one scrape per this many readiness probes: about every 5 s at the probe's pace
SCRAPES_EVERY = 50


class Probe(LabUser):
    fixed_count = 1
    wait_time = constant(0.1)

    @task(SCRAPES_EVERY)
    def ready(self) -> None:
        self.client.get("/health/ready")

    @task(1)
    def scrape(self) -> None:
        self.client.get("/metrics")


if lab_hooks.WARMUP_S:  # only for the lab: the web UI keeps locust's own controls
    WarmupThenSteady = lab_hooks.WarmupThenSteady

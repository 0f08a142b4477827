"""client-per-request: the twin makes an httpx client per notify and never closes it.

Mechanism: each call leaves a client behind with its pool and its socket, so the live clients
and the process's open sockets grow by one per notify. The fix sends every call through the
lifespan's one client: after the first call opened its connections, both counts stay put.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psutil
import pytest

from app.leaky.client_per_request import ID
from tests.leaks.conftest import Start, builds
from tests.leaks.signals import live_instances, seed_items
from tests.support.leakcheck import LeakCheck
from tests.support.webhook_receiver import Receiver, webhook_receiver

CALLS, WARMUP = 16, 4
REASON = "the twin's clients are never closed: a client and its socket per notify"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(status=204) as running:
        yield running


def open_sockets() -> int:
    return sum(1 for connection in psutil.Process().net_connections("tcp"))


@pytest.mark.parametrize("signal", ["clients", "sockets"])
@pytest.mark.parametrize("build", builds(REASON))
async def test_notify_does_not_leak_http_clients(
    build: str,
    signal: str,
    start_build: Start,
    leak_check: LeakCheck,
    database_url: str,
    receiver: Receiver,
) -> None:
    [item_id] = await seed_items(database_url, 1)
    async with start_build(build, ID, webhook_url=receiver.url) as running:

        async def notify(_index: int) -> None:
            response = await running.client.post(f"/items/{item_id}/notify")
            assert response.status_code == 200, response.text

        await leak_check(
            notify,
            (lambda: live_instances(httpx.AsyncClient)) if signal == "clients" else open_sockets,
            times=CALLS,
            warmup=WARMUP,
            max_growth_per_action=0.25,  # one client (one socket) kept per notify is 1
            every=4,
            name="live AsyncClient objects" if signal == "clients" else "TCP sockets",
        )
    assert len(receiver.events) == CALLS

"""An ASGI app whose event loop can be kept busy turn after turn, for the accept tests.

``GET /busy?turns=N`` starts a callback that blocks the loop for ``BLOCK_S`` once in every turn,
N turns in a row (a callback scheduled with ``call_soon`` from a callback runs in the next turn),
so the turns can be counted; ``GET /turn`` answers how many have passed. A connection's answer
to ``/turn`` says in which turn the server got to it.
"""

from __future__ import annotations

import asyncio
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

BLOCK_S = 0.05
turns_passed = 0


def _block(left: int) -> None:
    global turns_passed
    time.sleep(BLOCK_S)  # what a saturated worker's turn costs, without the requests
    turns_passed += 1
    if left > 1:
        asyncio.get_running_loop().call_soon(_block, left - 1)


async def busy(request: Request) -> PlainTextResponse:
    global turns_passed
    turns_passed = 0
    asyncio.get_running_loop().call_soon(_block, int(request.query_params["turns"]))
    return PlainTextResponse("busy")


async def turn(_request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(turns_passed))


async def ready(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/busy", busy), Route("/turn", turn), Route("/health/ready", ready)])

"""Freeze the heap the lifespan built, so full collections stop re-scanning it.

Everything alive once start-up is done (modules, routes, models, the resources) lives as long as
the worker. Frozen (``gc.freeze``), the cyclic collector leaves it out of every full collection,
whose pauses held every in-flight request (docs/bench.md). Objects made later are collected as
before; the heap is unfrozen at shutdown, so an app built in a test is collected too.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Lifespan


def frozen_after_startup(lifespan: Lifespan[Any]) -> Lifespan[Any]:
    """``lifespan``, with the heap collected and frozen once its start-up is done."""

    @asynccontextmanager
    async def frozen(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            gc.collect()
            gc.freeze()
            try:
                yield state
            finally:
                gc.unfreeze()

    return frozen


def install_frozen_heap(app: FastAPI) -> None:
    app.router.lifespan_context = frozen_after_startup(app.router.lifespan_context)

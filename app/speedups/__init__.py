"""The measured speed-ups, in one optional room: ``install(app)`` switches them all on.

Each changes the plain service only through a public seam, and each pays for itself in
docs/bench.md:
- ``fair_pool``: a pool class that serves waiting requests first come, first served (passed to
  ``create_engine`` as its ``poolclass``);
- ``item_read``: ``GET /items/{item_id}`` through the driver (``driver_read``), a route placed
  in front of the plain one;
- ``frozen_heap``: ``gc.freeze()`` once the lifespan has started.

The app factory calls ``install`` when ``LEAKPROOF_SPEEDUPS`` is on (the default). Nothing else
imports this package: deleting it, and that call, leaves the plain service.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.speedups.fair_pool import FirstComeFirstServedPool
from app.speedups.frozen_heap import install_frozen_heap
from app.speedups.item_read import install_item_read


def install(app: FastAPI) -> None:
    app.state.poolclass = FirstComeFirstServedPool
    install_item_read(app)
    install_frozen_heap(app)

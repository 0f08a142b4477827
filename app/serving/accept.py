"""A listening socket watched several times, so that a busy worker accepts a burst of connections.

uvloop (libuv) accepts one connection per turn of the event loop for each socket it watches. A
worker saturated with requests takes tens of milliseconds per turn, so a burst of new
connections (clients reconnecting after a restart, a proxy opening its pool) was accepted a few
dozen a second: the last ones waited seconds for a first answer that the worker had the CPU to
give. Each duplicate of the socket's descriptor is watched on its own, and every copy draws from
the one queue of connections the kernel keeps, so the loop accepts up to one connection per copy
per turn. A loop with nothing to catch up on pays one accept() that finds nothing per extra copy
and new connection, a few microseconds; a kept-alive connection pays nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable


def watched(sockets: Iterable[socket.socket], accepts_per_turn: int) -> list[socket.socket]:
    """Each listening socket, followed by ``accepts_per_turn - 1`` duplicates of its descriptor.

    Pass the result to ``uvicorn.Server.serve(sockets=...)``: uvicorn watches each one and closes
    each one at shutdown.
    """
    if accepts_per_turn < 1:
        raise ValueError(f"accepts_per_turn must be at least 1, not {accepts_per_turn}")
    return [
        copy
        for listener in sockets
        for copy in (listener, *(listener.dup() for _ in range(accepts_per_turn - 1)))
    ]

"""The SQLAlchemy internals the speed-ups use are still there, in the shape they were written
for; an upgrade that moves one fails here, not at a request."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool

from app.speedups import _sqlalchemy
from app.speedups.fair_pool import FirstComeFirstServedPool, FirstComeFirstServedQueue
from tests.support.pins import assert_written_for


def parameters(function: object) -> list[str]:
    assert callable(function)
    return list(inspect.signature(function).parameters)


def test_the_installed_sqlalchemy_is_the_series_the_module_was_written_for() -> None:
    assert_written_for(
        _sqlalchemy.DISTRIBUTION, _sqlalchemy.WRITTEN_FOR, "app/speedups/_sqlalchemy.py"
    )


def test_the_asyncio_pool_still_takes_its_queue_from_queue_class() -> None:
    assert AsyncAdaptedQueuePool._queue_class is _sqlalchemy.AsyncAdaptedQueue
    assert FirstComeFirstServedPool._queue_class is FirstComeFirstServedQueue  # type: ignore[attr-defined]
    assert issubclass(FirstComeFirstServedPool, AsyncAdaptedQueuePool)


def test_the_queue_keeps_the_methods_the_fair_queue_overrides() -> None:
    queue = _sqlalchemy.AsyncAdaptedQueue
    assert parameters(queue.__init__) == ["self", "maxsize", "use_lifo"]
    assert parameters(queue.get) == ["self", "block", "timeout"]
    assert parameters(queue.put) == ["self", "item", "block", "timeout"]
    assert parameters(queue.get_nowait) == ["self"]
    assert parameters(queue.put_nowait) == ["self", "item"]
    empty: _sqlalchemy.AsyncAdaptedQueue[object] = queue()
    with pytest.raises(_sqlalchemy.Empty):
        empty.get_nowait()


def test_pool_invalidate_takes_a_connection_and_its_error() -> None:
    assert parameters(Pool._invalidate)[:3] == ["self", "connection", "exception"]


def test_the_greenlet_bridges_are_still_exported() -> None:
    assert inspect.iscoroutinefunction(_sqlalchemy.greenlet_spawn)
    assert parameters(_sqlalchemy.await_)[:1] == ["awaitable"]

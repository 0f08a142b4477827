"""A reusable leak check: repeat an action, sample a signal, assert that the signal levels off.

Copy this file into your own tests (it needs only pytest). A leak is a signal that keeps growing
with the work done: connections checked out, asyncio tasks, live objects of one type, fds. So
the check runs the action ``times`` times, samples the signal before and after every ``every``
runs, ignores a warm-up (pools fill, caches warm, lazy imports happen), and fails when what is
left grows faster than ``max_growth_per_action``. Take that limit from the mechanism you guard
against: a leak of one connection per request grows by 1 per action, so a limit of 0.25 tells
it from a pool that fills once. The failure message shows the whole series. Load the fixture
with ``pytest_plugins = ["tests.support.leakcheck"]`` (this file's module path in your project)
in your top-level conftest.py; then, with the fixtures of this template's tests::

    async def test_reads_do_not_leak_connections(app, client, leak_check):
        pool = app.state.resources.engine.pool
        await leak_check(
            lambda _: client.get("/items/1"),
            pool.checkedout,
            times=40, warmup=10, max_growth_per_action=0.25, name="checked-out connections",
        )

Prove the check on a deliberate leak of your own (an action that appends to a list) before you
trust a green run: the same call must fail there.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

Action = Callable[[int], object]  # called with the run's index; may return an awaitable
Signal = Callable[[], float | Awaitable[float]]


class LeakError(AssertionError):
    """The signal kept growing: the failure a leak check exists to raise."""


@dataclass(frozen=True)
class Series:
    """Signal values sampled after ``done`` actions (or any other measure of work, like rows)."""

    signal: str
    points: tuple[tuple[int, float], ...]
    unit: str = "actions"  # what the first number counts

    def table(self) -> str:
        lines = [f"  {self.unit:>8}  {self.signal}"]
        lines += [f"  {done:>8}  {value:g}" for done, value in self.points]
        return "\n".join(lines)

    def after(self, warmup: int) -> tuple[tuple[int, float], ...]:
        points = tuple(point for point in self.points if point[0] >= warmup)
        if len(points) < 2:
            raise ValueError(f"fewer than two samples of {self.signal} after a warm-up of {warmup}")
        return points


async def _value(signal: Signal) -> float:
    value = signal()
    return float(await value) if inspect.isawaitable(value) else float(value)


async def sample(
    action: Action,
    signal: Signal,
    *,
    times: int,
    every: int = 1,
    name: str = "signal",
    collect: bool = True,
) -> Series:
    """Run ``action`` ``times`` times; sample ``signal`` first and after every ``every`` runs.

    ``collect`` runs the garbage collector before each sample, so what is counted is what is
    really kept, not what merely waits for the collector.
    """
    points: list[tuple[int, float]] = []

    async def take(done: int) -> None:
        if collect:
            gc.collect()
        points.append((done, await _value(signal)))

    await take(0)
    for index in range(times):
        result = action(index)
        if inspect.isawaitable(result):
            await result
        if (index + 1) % every == 0 or index + 1 == times:
            await take(index + 1)
    return Series(name, tuple(points))


def assert_levels_off(series: Series, *, warmup: int, max_growth_per_action: float) -> None:
    """Fail when the signal grows, after ``warmup`` actions, faster than the limit."""
    points = series.after(warmup)
    start_done, start_value = points[0]
    end_done = points[-1][0]
    growth = max(value for _, value in points) - start_value
    per_action = growth / (end_done - start_done)
    one = series.unit.removesuffix("s")
    if per_action > max_growth_per_action:
        raise LeakError(
            f"{series.signal} keeps growing: +{growth:g} over the {end_done - start_done} "
            f"{series.unit} after a warm-up of {warmup} ({per_action:.3g} per {one}, limit "
            f"{max_growth_per_action:g}):\n{series.table()}"
        )


async def check_levels_off(
    action: Action,
    signal: Signal,
    *,
    times: int,
    warmup: int,
    max_growth_per_action: float,
    every: int = 1,
    name: str = "signal",
) -> Series:
    """``sample`` then ``assert_levels_off``; returns the series for further assertions."""
    series = await sample(action, signal, times=times, every=every, name=name)
    assert_levels_off(series, warmup=warmup, max_growth_per_action=max_growth_per_action)
    return series


class LeakCheck:
    """The fixture's callable: ``check_levels_off`` that also puts each series in the report."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    async def __call__(
        self,
        action: Action,
        signal: Signal,
        *,
        times: int,
        warmup: int,
        max_growth_per_action: float,
        every: int = 1,
        name: str = "signal",
    ) -> Series:
        series = await sample(action, signal, times=times, every=every, name=name)
        self._item.add_report_section("call", name, series.table())
        assert_levels_off(series, warmup=warmup, max_growth_per_action=max_growth_per_action)
        return series


@pytest.fixture
def leak_check(request: pytest.FixtureRequest) -> LeakCheck:
    """``await leak_check(action, signal, times=..., warmup=..., max_growth_per_action=...)``;
    ``pytest -rA`` shows every series, passing ones included."""
    return LeakCheck(request.node)

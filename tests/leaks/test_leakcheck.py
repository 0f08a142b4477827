"""The reusable leak check proves itself on a deliberate leak and on a signal that levels off."""

from __future__ import annotations

import pytest

from tests.support.leakcheck import (
    LeakCheck,
    LeakError,
    Series,
    assert_levels_off,
    check_levels_off,
)


async def test_check_fails_on_a_list_that_grows_with_every_action_and_shows_the_series() -> None:
    kept: list[bytes] = []
    with pytest.raises(LeakError) as leak:
        await check_levels_off(
            lambda _: kept.append(b"x" * 100),
            lambda: len(kept),
            times=10,
            warmup=2,
            max_growth_per_action=0.25,
            name="kept buffers",
        )
    message = str(leak.value)
    assert "kept buffers keeps growing: +8 over the 8 actions" in message
    assert "        10  10" in message  # the last sample of the series


async def test_check_passes_on_a_pool_that_fills_during_the_warmup_then_stays() -> None:
    pool: set[int] = set()
    series = await check_levels_off(
        lambda index: pool.add(index % 4),
        lambda: len(pool),
        times=12,
        warmup=4,
        max_growth_per_action=0.25,
    )
    assert [value for _, value in series.points] == [0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]


def test_growth_is_judged_per_action_after_the_warmup_only() -> None:
    series = Series("rows", ((0, 0), (10, 50), (20, 52), (30, 54)), unit="requests")
    assert_levels_off(series, warmup=10, max_growth_per_action=0.25)  # +4 over 20
    with pytest.raises(LeakError, match=r"\+54 over the 30 requests"):
        assert_levels_off(series, warmup=0, max_growth_per_action=0.25)
    with pytest.raises(ValueError, match="fewer than two samples"):
        assert_levels_off(series, warmup=25, max_growth_per_action=0.25)


async def test_fixture_puts_each_series_in_the_report(
    leak_check: LeakCheck, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    sections: dict[str, str] = {}

    def add_report_section(_when: str, key: str, content: str) -> None:
        sections[key] = content

    monkeypatch.setattr(request.node, "add_report_section", add_report_section)
    await leak_check(lambda _: None, lambda: 1.0, times=3, warmup=1, max_growth_per_action=0)
    assert sections["signal"].splitlines()[-1] == "         3  1"

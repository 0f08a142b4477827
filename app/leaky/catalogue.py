"""The leak catalogue: every scenario of the twin, in the order docs/leaks.md tells them."""

from __future__ import annotations

from collections.abc import Iterable

from app.leaky import (
    aborted_stream,
    allocator_retention,
    client_per_request,
    di_singleton,
    engine_per_request,
    exception_retention,
    global_state,
    metrics_cardinality,
    orphan_tasks,
    schema_per_call,
    stream_holds_session,
    threadpool_deadlock,
    unclosed_session,
    unstreamed_export,
)
from app.leaky.seams import Scenario

ALL = "all"
SCENARIOS: dict[str, Scenario] = {
    scenario.id: scenario
    for scenario in (
        unclosed_session.SCENARIO,
        global_state.SCENARIO,
        di_singleton.SCENARIO,
        orphan_tasks.SCENARIO,
        unstreamed_export.SCENARIO,
        stream_holds_session.SCENARIO,
        engine_per_request.SCENARIO,
        aborted_stream.SCENARIO,
        threadpool_deadlock.SCENARIO,
        allocator_retention.SCENARIO,
        exception_retention.SCENARIO,
        client_per_request.SCENARIO,
        metrics_cardinality.SCENARIO,
        schema_per_call.SCENARIO,
    )
}


def parse_leaks(chosen: str | Iterable[str]) -> tuple[str, ...]:
    """``all`` or a comma list of ids, in catalogue order; an unknown id names the valid ones."""
    names = chosen.split(",") if isinstance(chosen, str) else list(chosen)
    wanted = {name.strip() for name in names if name.strip()}
    if not wanted:
        raise ValueError(f"no leak chosen; use {ALL!r} or a comma list of: {', '.join(SCENARIOS)}")
    if ALL in wanted:
        return tuple(SCENARIOS)
    unknown = sorted(wanted - SCENARIOS.keys())
    if unknown:
        raise ValueError(
            f"unknown leak {', '.join(map(repr, unknown))}; "
            f"use {ALL!r} or a comma list of: {', '.join(SCENARIOS)}"
        )
    return tuple(leak for leak in SCENARIOS if leak in wanted)


# Three scenarios swap the one export route (by format, the first that claims it answers) and
# two the list page (the one installed last answers).
SHADOWS = {
    # chosen together, this one ...           is hidden by these on every request it claims
    stream_holds_session.ID: ("GET /items/export", (unstreamed_export.ID,)),
    allocator_retention.ID: ("GET /items", (schema_per_call.ID,)),
}


def shadowed(leaks: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The chosen leaks another chosen one hides: the route, and the leaks answering it."""
    chosen = set(leaks)
    return {
        leak: (route, hidden_by)
        for leak, (route, hidden_by) in SHADOWS.items()
        if leak in chosen and chosen.intersection(hidden_by)
    }

"""FastAPI's own seams, the only way the twin changes the fixed app.

A scenario overrides a dependency (``app.dependency_overrides``, the mechanism FastAPI
documents for tests), puts its own route where the fixed one was, or registers its own exception
handler or middleware class in the fixed one's place. Nothing in ``app/`` is
patched: the fixed modules stay exactly as they are, and the twin reads as a diff against them.

Each scenario also gets a list on ``app.state`` for what it keeps, so a test (and only a test)
can hand it back with the scenario's ``release``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.routing import Match
from starlette.types import Scope

Install = Callable[[FastAPI], None]
Release = Callable[[FastAPI], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    """One entry of the leak catalogue: what the twin swaps, what grows, where the fix lives."""

    id: str
    endpoint: str
    leaks: str
    signal: str
    fix: str
    install: Install
    release: Release


def retained(app: FastAPI, scenario_id: str) -> list[Any]:
    """The list a scenario keeps its leaked objects in, one per app."""
    kept: dict[str, list[Any]] | None = getattr(app.state, "leaky_retained", None)
    if kept is None:
        kept = app.state.leaky_retained = {}
    return kept.setdefault(scenario_id, [])


def override_dependency(
    app: FastAPI, original: Callable[..., Any], replacement: Callable[..., Any]
) -> None:
    if original in app.dependency_overrides:
        raise RuntimeError(f"{original.__qualname__} is already overridden by another scenario")
    app.dependency_overrides[original] = replacement


def _probe(method: str, path: str) -> Scope:
    # a concrete request for the route's path: every {parameter} becomes "0"
    concrete = re.sub(r"{[^}]+}", "0", path)
    return {
        "type": "http",
        "method": method,
        "path": concrete,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def fixed_route_index(app: FastAPI, method: str, path: str) -> int:
    """Where the fixed app answers ``method path``: its own route, or the included router
    holding it (FastAPI keeps included routers as entries; they are shared, never edited)."""
    probe = _probe(method, path)
    for index, entry in enumerate(app.router.routes):
        if isinstance(entry, QueryValueRoute):
            continue
        match, _ = entry.matches(dict(probe))
        if match is Match.FULL:
            return index
    raise LookupError(f"the fixed app has no {method} {path} route")


def _add_route(
    app: FastAPI,
    index: int,
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    route_class: type[APIRoute] = APIRoute,
    **settings: Any,
) -> APIRoute:
    """A route of the app itself (so dependency overrides reach it), moved to ``index``: the
    router tries entries in order, so it answers before the fixed one."""
    app.router.add_api_route(
        path,
        endpoint,
        methods=[method],
        include_in_schema=False,  # the fixed route, same shapes, stays the documented one
        route_class_override=route_class,
        **settings,
    )
    route = app.router.routes.pop()
    assert isinstance(route, route_class)
    app.router.routes.insert(index, route)
    return route


def replace_route(
    app: FastAPI, method: str, path: str, endpoint: Callable[..., Any], **settings: Any
) -> None:
    """Serve ``method path`` with ``endpoint`` instead of the fixed handler."""
    _add_route(app, fixed_route_index(app, method, path), method, path, endpoint, **settings)


class QueryValueRoute(APIRoute):
    """A route that matches only when a query parameter has one of ``values``.

    It lets several scenarios share one path: each takes the requests it is about (for example
    ``/items/export?format=csv``) and the fixed route behind them answers the rest.
    """

    parameter: str = ""
    default: str = ""
    values: frozenset[str] = frozenset()
    precedence: int = 0

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return match, child
        value = self.default
        for pair in scope.get("query_string", b"").decode("latin-1").split("&"):
            name, _, raw = pair.partition("=")
            if name == self.parameter:
                value = raw
        return (match, child) if value in self.values else (Match.NONE, {})


def add_route_in_front(
    app: FastAPI,
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    *,
    parameter: str,
    default: str,
    values: Iterable[str],
    precedence: int,
    **settings: Any,
) -> None:
    """Put ``endpoint`` before the fixed route for the requests whose ``parameter`` is in
    ``values``; the fixed route behind it answers the others.

    When several scenarios claim the same requests, the lowest ``precedence`` answers them.
    """
    position = fixed_route_index(app, method, path)
    routes = app.router.routes
    while position > 0:
        ahead = routes[position - 1]
        if not (isinstance(ahead, QueryValueRoute) and ahead.path == path):
            break
        if ahead.precedence < precedence:
            break
        position -= 1
    route = _add_route(app, position, method, path, endpoint, QueryValueRoute, **settings)
    assert isinstance(route, QueryValueRoute)
    route.parameter, route.default, route.values = parameter, default, frozenset(values)
    route.precedence = precedence


def override_exception_handler(
    app: FastAPI, exc_class: type[Exception], handler: Callable[..., Any]
) -> None:
    """Answer ``exc_class`` with ``handler`` instead of the fixed build's handler (the
    exception middleware is built on the first request, from ``app.exception_handlers``)."""
    if exc_class not in app.exception_handlers:
        raise LookupError(f"the fixed app has no handler for {exc_class.__qualname__}")
    app.exception_handlers[exc_class] = handler


def replace_middleware(app: FastAPI, original: Any, replacement: Any) -> None:
    """Use ``replacement`` (a subclass taking the same options) where the fixed app added
    ``original``; the middleware stack is built on the first request, from this list."""
    for index, entry in enumerate(app.user_middleware):
        if entry.cls is original:
            app.user_middleware[index] = Middleware(replacement, *entry.args, **entry.kwargs)
            return
    raise LookupError(f"the fixed app has no {original.__qualname__}")

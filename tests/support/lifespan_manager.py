"""The one private name of asgi-lifespan the tests use: the state the lifespan yielded.

``LifespanManager`` runs an app's lifespan and hands the state it yields to every request of
``manager.app``, but exposes it only as ``_state``; tests read the resources from it to look at
the pool, the registry or the cache behind the requests they send. Written for asgi-lifespan 2
(pyproject.toml: ``<3``); tests/test_private_names.py fails when an upgrade changes it.
"""

from __future__ import annotations

from typing import Any

from asgi_lifespan import LifespanManager

from app.lifespan import Resources

DISTRIBUTION = "asgi-lifespan"
WRITTEN_FOR = ">=2.1,<3"


def lifespan_state(manager: LifespanManager) -> dict[str, Any]:
    """What the app's lifespan yielded, once the manager has started it."""
    state: dict[str, Any] = manager._state
    return state


def resources_of(manager: LifespanManager) -> Resources:
    resources: Resources = lifespan_state(manager)["resources"]
    return resources

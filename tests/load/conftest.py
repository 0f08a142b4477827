"""The lab's tests' shared fixtures: the items this project's locustfile reads, in the suite's
database, for a server a test starts itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from load.run.database import reseed
from tests.load.soak_url import SEEDED


@pytest.fixture
def seeded(database_url: str) -> Iterator[str]:
    """Items with ids 1..SEEDED (what the locustfile reads); the table is emptied afterwards."""
    reseed(database_url, SEEDED)
    yield database_url
    reseed(database_url, 0)

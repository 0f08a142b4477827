"""Fault tests run real servers against a database of their own on the embedded PostgreSQL
(LEAKPROOF_TEST_DATABASE + "_server"); each test starts from an empty items table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.dev import embedded_postgres, migrations
from tests.support.database import DATA_DIR, TEST_DATABASE, TEST_URL_ENV, truncate_tables

SERVER_DATABASE = f"{TEST_DATABASE}_server"


@pytest.fixture(scope="session")
def server_database_session() -> str:
    configured = os.environ.get(TEST_URL_ENV)
    # a configured test server is used as it is (its database is shared with the suite)
    url = configured or embedded_postgres.start(DATA_DIR, SERVER_DATABASE)
    migrations.upgrade(url)
    return url


@pytest.fixture
async def server_database(server_database_session: str) -> str:
    await truncate_tables(server_database_session)
    return server_database_session


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path

"""The suite's fixtures live in tests/support/ and are loaded here as plugins: the database,
the app and its client (fixtures.py), and the leak check (leakcheck.py)."""

pytest_plugins = ["tests.support.fixtures", "tests.support.leakcheck"]

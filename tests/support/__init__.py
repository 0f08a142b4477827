"""What the tests share: the database, real servers, an ASGI driver for clients that misbehave,
a webhook receiver, the leak check, and the fixtures (loaded by tests/conftest.py)."""

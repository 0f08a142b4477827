"""The list page's rows adapter: built once at import, and it reads ORM rows as ItemRead."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic_core import SchemaValidator

from app.models import Item
from app.routes.items import ITEM_ROWS
from app.schemas import ItemRead


def test_the_rows_adapter_is_ready_at_import() -> None:
    # a deferred build would hand the first request (and a twin, every request) the cost
    assert isinstance(ITEM_ROWS.validator, SchemaValidator)


def test_the_rows_adapter_reads_orm_rows_as_one_item_read_each() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        Item(
            id=n, name=f"item-{n}", description=None, price=n * 1.5, created_at=now, updated_at=now
        )
        for n in (1, 2, 3)
    ]
    items = ITEM_ROWS.validate_python(rows, from_attributes=True)
    assert items == [ItemRead.model_validate(row) for row in rows]
    assert [type(item) for item in items] == [ItemRead] * 3

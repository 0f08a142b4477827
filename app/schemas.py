"""Request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

PRICE_MAX = 9_999_999_999.99
# strict: a JSON number only (lax mode would take true/false or "1" as a price)
Price = Annotated[float, Field(ge=0, le=PRICE_MAX, allow_inf_nan=False, strict=True)]


# PostgreSQL text cannot hold NUL: refused here as bad input (422), not by the database
# (which would surface as an error the client should retry)
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=10_000, pattern=NO_NUL)]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    price: Price


class ItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # name and price may be left out but not set to null; the schema says so too
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None

    @field_validator("name", "price")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    name: str
    description: str | None
    price: float
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    next_after: int | None = Field(
        description="Pass as ?after= to get the next page; null on the last page."
    )


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field("items-summary", pattern="^items-summary$")


class JobRead(BaseModel):
    id: str
    name: str
    state: str
    result: dict[str, float | int | None] | None = None
    error: str | None = None
    started_at: float
    finished_at: float | None = None


class ItemNotified(BaseModel):
    item_id: int
    receiver_status: int  # what the webhook receiver answered (2xx)

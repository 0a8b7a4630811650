"""Wire types shared by every domain: money, rates, dates, currencies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, StrictInt, StringConstraints

MAX_MINOR_UNITS = 1_000_000_000_000


def _date_from_string(value: Any) -> Any:
    # Lax pydantic would take 1767225600 or 2026.0 as a date; we only take "YYYY-MM-DD".
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a date as a string, YYYY-MM-DD")
    return value


MinorUnits = Annotated[
    StrictInt,
    Field(
        gt=0,
        le=MAX_MINOR_UNITS,
        description="An amount in the currency's minor unit (40000 = 400.00 USD).",
        examples=[40000],
    ),
]
NonNegativeMinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS, examples=[0])]
Percent = Annotated[
    Decimal,
    Field(
        ge=0,
        le=100,
        decimal_places=6,
        allow_inf_nan=False,
        description='A percentage as a JSON number or string, e.g. "15.99".',
        examples=["15.99"],
    ),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
CalendarDate = Annotated[date, BeforeValidator(_date_from_string), Field(examples=["2026-12-01"])]
CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        description="ISO 4217 code, upper case.",
        examples=["USD"],
    ),
]

# A merchant's own reference (a customer, an order): printable ASCII, no surrounding spaces.
Reference = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
    ),
]

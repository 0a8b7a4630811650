from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from app.engine import Frequency, LineKind
from app.errors import UNION_TAG
from app.fields import CalendarDate, CurrencyCode, MinorUnits
from app.products.schemas import TERMS_EXAMPLE, AmountOrPercent, Terms


class ScheduleLine(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "sequence": 1,
                "kind": "installment",
                "due_date": "2026-12-15",
                "principal": 10000,
                "interest": 0,
                "fee": 0,
                "amount": 10000,
            }
        }
    )

    sequence: int
    kind: LineKind
    due_date: date
    principal: int
    interest: int
    fee: int
    amount: int


class Disclosure(BaseModel):
    """The Truth in Lending figures of a schedule."""

    amount: int
    currency: str
    deposit_amount: int
    amount_financed: int
    finance_charge: int
    total_of_payments: int
    total_sale_price: int
    apr: str = Field(description="Actuarial APR (Regulation Z Appendix J), two decimals.")
    first_due_date: date
    last_due_date: date


class Quote(Disclosure):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "amount": 40000,
                "currency": "USD",
                "deposit_amount": 10000,
                "amount_financed": 30000,
                "finance_charge": 0,
                "total_of_payments": 30000,
                "total_sale_price": 40000,
                "apr": "0.00",
                "first_due_date": "2026-12-15",
                "last_due_date": "2027-01-12",
                "schedule": [
                    {
                        "sequence": 0,
                        "kind": "deposit",
                        "due_date": "2026-12-01",
                        "principal": 10000,
                        "interest": 0,
                        "fee": 0,
                        "amount": 10000,
                    },
                    {
                        "sequence": 1,
                        "kind": "installment",
                        "due_date": "2026-12-15",
                        "principal": 10000,
                        "interest": 0,
                        "fee": 0,
                        "amount": 10000,
                    },
                    {
                        "sequence": 2,
                        "kind": "installment",
                        "due_date": "2026-12-29",
                        "principal": 10000,
                        "interest": 0,
                        "fee": 0,
                        "amount": 10000,
                    },
                    {
                        "sequence": 3,
                        "kind": "installment",
                        "due_date": "2027-01-12",
                        "principal": 10000,
                        "interest": 0,
                        "fee": 0,
                        "amount": 10000,
                    },
                ],
                "terms": {**TERMS_EXAMPLE, "first_due_date": "2026-12-15", "fee": None},
            }
        }
    )

    schedule: list[ScheduleLine]
    terms: Terms


class ProductQuoteRequest(BaseModel):
    """Quote every offer of a product that the amount qualifies for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "product_id": "01a2067f-108b-7efe-9292-8631ea0efaa2",
                "amount": 40000,
                "start_date": "2026-12-01",
            }
        },
    )

    product_id: uuid.UUID
    amount: MinorUnits
    start_date: CalendarDate | None = Field(default=None, description="Default: today (UTC).")
    deposit: AmountOrPercent | None = Field(
        default=None, description="Default: the product's minimum deposit."
    )


def _quote_request_shape(value: Any) -> str:
    return UNION_TAG + ("product" if isinstance(value, dict) and "product_id" in value else "terms")


QuoteRequest = Annotated[
    Annotated[Terms, Tag(UNION_TAG + "terms")]
    | Annotated[ProductQuoteRequest, Tag(UNION_TAG + "product")],
    Discriminator(_quote_request_shape),
]


class QuoteList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": []}})

    data: list[Quote]


class AprPayment(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"date": "2027-01-01", "amount": 9026}}
    )

    date: CalendarDate
    amount: MinorUnits


class AprRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "amount_financed": 500000,
                "currency": "USD",
                "start_date": "2026-01-10",
                "payments": [{"date": "2026-02-10", "amount": 23000}],
                "unit_period": "monthly",
            }
        },
    )

    amount_financed: MinorUnits
    currency: CurrencyCode
    start_date: CalendarDate
    payments: list[AprPayment] = Field(min_length=1, max_length=600)
    unit_period: Frequency | None = Field(
        default=None, description="Inferred from the payment dates when absent."
    )


class AprResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "apr": "9.69",
                "unit_period": "monthly",
                "amount_financed": 500000,
                "currency": "USD",
                "finance_charge": 52000,
                "total_of_payments": 552000,
            }
        }
    )

    apr: str
    unit_period: Frequency
    amount_financed: int
    currency: str
    finance_charge: int
    total_of_payments: int

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from app import engine
from app.engine import Frequency, InterestMethod, LineKind
from app.errors import UNION_TAG
from app.fields import CalendarDate, CurrencyCode, MinorUnits, NonNegativeMinorUnits, Percent

_TERMS_EXAMPLE: dict[str, Any] = {
    "amount": 40000,
    "currency": "USD",
    "start_date": "2026-12-01",
    "deposit": {"percent": "25"},
    "installments": 3,
    "frequency": "biweekly",
    "interest_rate": "0",
    "interest_method": "amortized",
}


class AmountOrPercent(BaseModel):
    """Exactly one of `amount` (minor units) or `percent`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"percent": "25"}]})

    amount: NonNegativeMinorUnits | None = None
    percent: Percent | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.amount is None) == (self.percent is None):
            raise ValueError("give exactly one of 'amount' or 'percent'")
        return self

    def to_engine(self) -> engine.AmountOrPercent:
        return engine.AmountOrPercent(amount=self.amount, percent=self.percent)


class Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _TERMS_EXAMPLE})

    def to_engine(self) -> engine.Terms:
        return engine.Terms(
            amount=self.amount,
            currency=self.currency,
            start_date=self.start_date,
            installments=self.installments,
            frequency=self.frequency,
            deposit=self.deposit.to_engine() if self.deposit else None,
            first_due_date=self.first_due_date,
            interest_rate=self.interest_rate,
            interest_method=self.interest_method,
            fee=self.fee.to_engine() if self.fee else None,
        )

    amount: MinorUnits
    currency: CurrencyCode
    start_date: CalendarDate
    installments: int = Field(ge=1, le=120, strict=True, examples=[4])
    frequency: Frequency
    deposit: AmountOrPercent | None = None
    first_due_date: CalendarDate | None = None
    interest_rate: Percent = Decimal(0)
    interest_method: InterestMethod = InterestMethod.AMORTIZED
    fee: AmountOrPercent | None = None


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
                "terms": {**_TERMS_EXAMPLE, "first_due_date": "2026-12-15", "fee": None},
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

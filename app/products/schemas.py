"""A product: the rules a merchant offers credit under. Stored as a versioned document.

Also the wire types of terms (`Terms`, `AmountOrPercent`) that quotes, products and plans share,
and the one mapping from the stored document to the engine's policies
(`ProductDefinition.delinquency_policy`, `LateFeePolicy.to_engine`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import engine
from app.engine import Frequency, InterestMethod
from app.engine.delinquency import DelinquencyPolicy
from app.engine.late_fees import LateFeeRules
from app.fields import CalendarDate, CurrencyCode, MinorUnits, NonNegativeMinorUnits, Percent

DEFAULT_REMINDER_DAYS = [-7, 0, 1, 7, 30, 60, 90]

TERMS_EXAMPLE: dict[str, Any] = {
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

    def to_engine(self) -> engine.FixedOrPercent:
        return engine.FixedOrPercent(amount=self.amount, percent=self.percent)


class Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": TERMS_EXAMPLE})

    def to_engine(self) -> engine.ScheduleTerms:
        return engine.ScheduleTerms(
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


class RefundStrategy(StrEnum):
    LAST_FIRST = "last_first"
    PRO_RATA = "pro_rata"


class Offer(BaseModel):
    """One option offered at checkout."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"installments": 4, "frequency": "biweekly", "interest_rate": "0"}
        },
    )

    installments: int = Field(ge=1, le=120, strict=True)
    frequency: Frequency
    interest_rate: Percent = Decimal(0)
    interest_method: InterestMethod = InterestMethod.AMORTIZED
    fee: AmountOrPercent | None = None
    min_amount: MinorUnits | None = None
    max_amount: MinorUnits | None = None

    def accepts(self, amount: int) -> bool:
        return (self.min_amount is None or amount >= self.min_amount) and (
            self.max_amount is None or amount <= self.max_amount
        )


class DepositRule(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"min_percent": "25", "max_percent": "50"}}
    )

    min_percent: Percent = Decimal(0)
    max_percent: Percent = Decimal(0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_percent >= 100:
            raise ValueError("max_percent must be below 100")
        if self.min_percent > self.max_percent:
            raise ValueError("min_percent must not exceed max_percent")
        return self


class SecondFee(AmountOrPercent):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"after_days": 7, "amount": 700}}
    )

    after_days: int = Field(ge=1, le=365, strict=True, description="Days after the first fee.")


class PlanCap(BaseModel):
    """The lower of a percent of the purchase amount and an absolute amount (or just one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"percent": "25", "amount": 6800}}
    )

    percent: Percent | None = None
    amount: NonNegativeMinorUnits | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.percent is None and self.amount is None:
            raise ValueError("give 'percent', 'amount' or both")
        return self


class LateFeePolicy(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "grace_days": 0,
                "first_fee": {"amount": 1000},
                "second_fee": {"after_days": 7, "amount": 700},
                "cap_per_installment": 1700,
                "cap_per_plan": {"percent": "25", "amount": 6800},
                "cap_per_customer_12_months": None,
            }
        },
    )

    grace_days: int = Field(default=0, ge=0, le=60, strict=True)
    first_fee: AmountOrPercent = Field(
        description="Fixed, or a percent of the overdue installment."
    )
    second_fee: SecondFee | None = None
    cap_per_installment: NonNegativeMinorUnits | None = None
    cap_per_plan: PlanCap | None = None
    cap_per_customer_12_months: NonNegativeMinorUnits | None = None

    def to_engine(self) -> LateFeeRules:
        first, second, cap = self.first_fee, self.second_fee, self.cap_per_plan
        return LateFeeRules(
            grace_days=self.grace_days,
            first_amount=first.amount,
            first_percent=first.percent,
            second_after_days=second.after_days if second else None,
            second_amount=second.amount if second else None,
            second_percent=second.percent if second else None,
            cap_per_installment=self.cap_per_installment,
            cap_per_plan_percent=cap.percent if cap else None,
            cap_per_plan_amount=cap.amount if cap else None,
            cap_per_customer_12_months=self.cap_per_customer_12_months,
        )


class EligibilityRules(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "max_active_plans_per_customer": 2,
                "max_new_plans_per_365_days": 1,
                "block_if_delinquent": True,
            }
        },
    )

    max_active_plans_per_customer: int | None = Field(default=None, ge=0, le=1000, strict=True)
    max_new_plans_per_365_days: int | None = Field(default=None, ge=0, le=1000, strict=True)
    block_if_delinquent: bool = True


_PRODUCT_EXAMPLE: dict[str, Any] = {
    "name": "Pay in 4",
    "currency": "USD",
    "min_amount": 5000,
    "max_amount": 200000,
    "offers": [
        {"installments": 3, "frequency": "biweekly"},
        {"installments": 6, "frequency": "monthly", "interest_rate": "9.99"},
    ],
    "deposit": {"min_percent": "25", "max_percent": "50"},
    "late_fees": {
        "grace_days": 0,
        "first_fee": {"amount": 1000},
        "second_fee": {"after_days": 7, "amount": 700},
        "cap_per_installment": 1700,
        "cap_per_plan": {"percent": "25", "amount": 6800},
    },
    "default_after_days": 90,
    "reminder_days": DEFAULT_REMINDER_DAYS,
    "refund_strategy": "last_first",
    "eligibility": {"max_active_plans_per_customer": 2, "max_new_plans_per_365_days": 1},
    "require_agreement": True,
}


class ProductDefinition(BaseModel):
    """Everything a product decides. A change makes a new version."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _PRODUCT_EXAMPLE})

    name: str = Field(min_length=1, max_length=200)
    currency: CurrencyCode
    min_amount: MinorUnits
    max_amount: MinorUnits
    offers: list[Offer] = Field(min_length=1, max_length=20)
    deposit: DepositRule = Field(default_factory=DepositRule)
    late_fees: LateFeePolicy | None = None
    default_after_days: int = Field(default=90, ge=1, le=720, strict=True)
    reminder_days: list[int] = Field(
        default_factory=lambda: list(DEFAULT_REMINDER_DAYS),
        max_length=20,
        description="Days from a due date: -7 a week before, 0 on the day, 30 thirty days late.",
    )
    refund_strategy: RefundStrategy = RefundStrategy.LAST_FIRST
    past_due_tolerance: NonNegativeMinorUnits = Field(
        default=0, description="An installment owing this little or less does not make a plan late."
    )
    eligibility: EligibilityRules = Field(default_factory=EligibilityRules)
    require_agreement: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_amount > self.max_amount:
            raise ValueError("min_amount must not exceed max_amount")
        seen = set()
        for offer in self.offers:
            key = (offer.installments, offer.frequency)
            if key in seen:
                raise ValueError(f"two offers for {offer.installments} {offer.frequency} payments")
            seen.add(key)
        if any(not -60 <= d <= 365 for d in self.reminder_days):
            raise ValueError("reminder_days must be between -60 and 365")
        self.reminder_days = sorted(set(self.reminder_days))
        return self

    def late_fee_policy(self) -> LateFeeRules | None:
        return self.late_fees.to_engine() if self.late_fees else None

    def delinquency_policy(self) -> DelinquencyPolicy:
        grace = self.late_fees.grace_days if self.late_fees else 0
        return DelinquencyPolicy(grace, self.default_after_days, self.past_due_tolerance)

    def offer_for(self, installments: int, frequency: Frequency) -> Offer | None:
        return next(
            (o for o in self.offers if (o.installments, o.frequency) == (installments, frequency)),
            None,
        )


class ProductPatch(BaseModel):
    """Any top-level field of the definition; what is given replaces what was."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"max_amount": 300000}})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    currency: CurrencyCode | None = None
    min_amount: MinorUnits | None = None
    max_amount: MinorUnits | None = None
    offers: list[Offer] | None = Field(default=None, min_length=1, max_length=20)
    deposit: DepositRule | None = None
    late_fees: LateFeePolicy | None = None
    default_after_days: int | None = Field(default=None, ge=1, le=720, strict=True)
    reminder_days: list[int] | None = Field(default=None, max_length=20)
    refund_strategy: RefundStrategy | None = None
    past_due_tolerance: NonNegativeMinorUnits | None = None
    eligibility: EligibilityRules | None = None
    require_agreement: bool | None = None


class Product(ProductDefinition):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "01a2067f-108b-7efe-9292-8631ea0efaa2",
                "version": 2,
                "created_at": "2026-11-23T10:00:00Z",
                "updated_at": "2026-11-24T09:30:00Z",
                **_PRODUCT_EXAMPLE,
            }
        }
    )

    id: str
    version: int
    created_at: datetime
    updated_at: datetime


class ProductList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": [], "next_cursor": None}})

    data: list[Product]
    next_cursor: str | None

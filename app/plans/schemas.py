from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, StringConstraints

from app.engine import Frequency

# The statuses are the engine's (app.engine.status), re-exported for the wire models here.
from app.engine.installments import InstallmentStatus as InstallmentStatus
from app.engine.status import PlanStatus as PlanStatus
from app.fields import CalendarDate, CurrencyCode, MinorUnits
from app.quotes.schemas import AmountOrPercent, Disclosure, Terms

Reference = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
    ),
]
Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[str, StringConstraints(max_length=500)],
    ],
    Field(max_length=50, description="Up to 50 string pairs of yours, kept with the plan."),
]


_SHA256_EXAMPLE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class PlanCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": "cus_8841",
                "order_id": "ord_2026_000123",
                "product_id": "01a2067f-108b-7efe-9292-8631ea0efaa2",
                "amount": 40000,
                "installments": 3,
                "frequency": "biweekly",
                "deposit": {"percent": "25"},
                "start_date": "2026-12-01",
                "metadata": {"channel": "web"},
            }
        },
    )

    customer_id: Reference = Field(description="Your own customer reference; no names or ids.")
    order_id: Reference
    product_id: uuid.UUID
    amount: MinorUnits
    currency: CurrencyCode | None = Field(
        default=None, description="Optional: refused unless it is the product's currency."
    )
    installments: int = Field(ge=1, le=120, strict=True)
    frequency: Frequency
    deposit: AmountOrPercent | None = Field(
        default=None, description="Default: the product's minimum deposit."
    )
    start_date: CalendarDate | None = Field(
        default=None, description="Default: today (UTC). A past date imports an existing plan."
    )
    metadata: Metadata = Field(default_factory=dict)


class InstallmentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "01a2067f-2222-7efe-9292-8631ea0efaa2",
                "sequence": 1,
                "kind": "installment",
                "due_date": "2026-12-15",
                "principal": 10000,
                "interest": 0,
                "fee": 0,
                "late_fee": 0,
                "amount": 10000,
                "amount_paid": 0,
                "amount_due": 10000,
                "status": "scheduled",
            }
        }
    )

    id: uuid.UUID
    sequence: int
    kind: str
    due_date: date
    principal: int
    interest: int
    fee: int
    late_fee: int
    amount: int
    amount_paid: int
    amount_due: int = Field(description="What is still owed on it, late fees included.")
    status: InstallmentStatus


class Delinquency(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"state": "current", "days_past_due": 0, "bucket": "current", "since": None}
        }
    )

    state: str
    days_past_due: int
    bucket: str
    since: date | None


class AgreementStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"required": True, "accepted_at": None}}
    )

    required: bool
    accepted_at: datetime | None


class PlanOut(Disclosure):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                "status": "pending",
                "customer_id": "cus_8841",
                "order_id": "ord_2026_000123",
                "product_id": "01a2067f-108b-7efe-9292-8631ea0efaa2",
                "product_version": 1,
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
                "start_date": "2026-12-01",
                "credit_balance": 0,
                "terms": {
                    "amount": 40000,
                    "currency": "USD",
                    "start_date": "2026-12-01",
                    "installments": 3,
                    "frequency": "biweekly",
                    "deposit": {"percent": "25"},
                },
                "installments": [],
                "delinquency": {
                    "state": "current",
                    "days_past_due": 0,
                    "bucket": "current",
                    "since": None,
                },
                "agreement": {"required": True, "accepted_at": None},
                "metadata": {"channel": "web"},
                "created_at": "2026-12-01T10:00:00Z",
                "updated_at": "2026-12-01T10:00:00Z",
            }
        }
    )

    id: uuid.UUID
    status: PlanStatus
    customer_id: str
    order_id: str
    product_id: uuid.UUID
    product_version: int
    start_date: date
    credit_balance: int = Field(description="Money received beyond the whole plan, owed back.")
    terms: Terms
    installments: list[InstallmentOut]
    delinquency: Delinquency
    agreement: AgreementStatus
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


class PlanList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": [], "next_cursor": None}})

    data: list[PlanOut]
    next_cursor: str | None


class AcceptanceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "signer_name": "Jane Q. Customer",
                "ip_address": "203.0.113.7",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            }
        },
    )

    signer_name: str = Field(min_length=1, max_length=200)
    ip_address: IPvAnyAddress
    user_agent: str = Field(min_length=1, max_length=1000)
    document_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The SHA-256 (hex) of the document the customer saw; refused if it differs.",
    )


class AcceptanceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                "signer_name": "Jane Q. Customer",
                "ip_address": "203.0.113.7",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "document_sha256": _SHA256_EXAMPLE,
                "accepted_at": "2026-12-01T10:02:00Z",
                "plan_status": "pending",
            }
        }
    )

    plan_id: uuid.UUID
    signer_name: str
    ip_address: str
    user_agent: str
    document_sha256: str
    accepted_at: datetime
    plan_status: PlanStatus


class PlanFilters(BaseModel):
    customer_id: str | None = None
    order_id: str | None = None
    status: PlanStatus | None = None

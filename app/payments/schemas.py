from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.fields import CurrencyCode, MinorUnits

ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERSED = "reversed"


class PaymentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "payment_id": "pay_3QxT1a",
                "amount": 10000,
                "currency": "USD",
                "paid_at": "2026-12-01T09:30:00Z",
            }
        },
    )

    payment_id: ExternalId = Field(description="The provider's id: the same id is applied once.")
    amount: MinorUnits
    currency: CurrencyCode
    paid_at: AwareDatetime


class AllocationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "installment_id": "01a2067f-2222-7efe-9292-8631ea0efaa2",
                "sequence": 0,
                "component": "principal",
                "amount": 10000,
            }
        }
    )

    installment_id: uuid.UUID | None = Field(description="Null for a credit beyond the plan.")
    sequence: int | None
    component: str = Field(description="late_fee, fee, interest, principal or credit.")
    amount: int = Field(description="Negative for what a reversal re-opened.")


class PaymentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "01a2067f-3333-7efe-9292-8631ea0efaa2",
                "payment_id": "pay_3QxT1a",
                "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                "status": "succeeded",
                "amount": 10000,
                "currency": "USD",
                "paid_at": "2026-12-01T09:30:00Z",
                "failure_code": None,
                "reversed_at": None,
                "source": "api",
                "credit": 0,
                "allocations": [
                    {
                        "installment_id": "01a2067f-2222-7efe-9292-8631ea0efaa2",
                        "sequence": 0,
                        "component": "principal",
                        "amount": 10000,
                    }
                ],
                "created_at": "2026-12-01T09:30:01Z",
            }
        }
    )

    id: uuid.UUID
    payment_id: str
    plan_id: uuid.UUID
    status: PaymentStatus
    amount: int
    currency: str
    paid_at: datetime
    failure_code: str | None
    reversed_at: datetime | None
    source: str
    credit: int = Field(description="What went beyond the whole plan: owed back to the customer.")
    allocations: list[AllocationOut]
    created_at: datetime


class PaymentList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": [], "next_cursor": None}})

    data: list[PaymentOut]
    next_cursor: str | None

"""What the payment provider sends, and what it is answered."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.fields import CurrencyCode, MinorUnits
from app.payments.schemas import ExternalId


class PaymentEventData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: ExternalId
    plan_id: uuid.UUID
    amount: MinorUnits
    currency: CurrencyCode
    failure_code: str | None = Field(default=None, max_length=100)


class PaymentEvent(BaseModel):
    """What the payment provider sends to /v1/webhooks/payment-events/{merchant_id}."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "id": "evt_1Q2w3E",
                "type": "payment.succeeded",
                "occurred_at": "2026-12-01T09:30:00Z",
                "data": {
                    "payment_id": "pay_3QxT1a",
                    "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                    "amount": 10000,
                    "currency": "USD",
                },
            }
        },
    )

    id: ExternalId
    type: Literal["payment.succeeded", "payment.failed", "payment.reversed"]
    occurred_at: AwareDatetime
    data: PaymentEventData


class WebhookAck(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "applied", "event_id": "evt_1Q2w3E"}}
    )

    status: Literal["applied", "duplicate"]
    event_id: str

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from app.fields import CurrencyCode, MinorUnits, Reference
from app.quotes.schemas import Quote


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": "cus_8841",
                "product_id": "01a2067f-108b-7efe-9292-8631ea0efaa2",
                "amount": 40000,
                "currency": "USD",
            }
        },
    )

    customer_id: Reference
    product_id: uuid.UUID
    amount: MinorUnits
    currency: CurrencyCode


class Reason(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "code": "too_many_new_plans",
                "message": "The customer has had 1 new plan in the last 365 days; the limit is 1",
            }
        }
    )

    code: str
    message: str


class EligibilityResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"eligible": True, "reasons": [], "offers": []}}
    )

    eligible: bool
    reasons: list[Reason]
    offers: list[Quote]

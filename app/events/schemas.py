from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 1042,
                "type": "payment.applied",
                "created_at": "2026-12-01T10:00:00Z",
                "effective_date": None,
                "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                "data": {
                    "payment_id": "pay_3QxT1a",
                    "amount": 10000,
                    "applied": 10000,
                    "credit": 0,
                },
            }
        }
    )

    id: int
    type: str
    created_at: datetime
    effective_date: date | None
    plan_id: uuid.UUID | None
    data: dict[str, Any]


class EventList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"data": [], "next_cursor": "AAAAAAAAAxsAAAAAAAAEEg", "has_more": False}
        }
    )

    data: list[EventOut]
    next_cursor: str | None = Field(
        description="Where to read on (pass as `after`); kept even when this page is the last."
    )
    has_more: bool

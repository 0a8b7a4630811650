"""A customer's acceptance of their plan's agreement, on the wire."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress

from app.engine.status import PlanStatus

_SHA256_EXAMPLE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


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

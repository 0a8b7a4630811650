from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app.outbound.catalog import ANY_TYPE, EVENT_TYPES, unknown_types

_ENDPOINT_ID = "01a2067f-3333-7efe-9292-8631ea0efaa2"
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (an example)


def _known_types(types: list[str]) -> list[str]:
    if unknown := unknown_types(types):
        known = ", ".join([ANY_TYPE, *EVENT_TYPES])
        raise ValueError(f"Unknown event types: {', '.join(unknown)}. Known: {known}")
    return list(dict.fromkeys(types))  # each once, in the order given


EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=50, description='Exact types, or "*" for every type.'),
    AfterValidator(_known_types),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="https (http only where the service allows it); public addresses only.",
    ),
]
Description = Annotated[str, Field(max_length=500)]

_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": _ENDPOINT_ID,
    "url": "https://shop.example/webhooks/bnpl",
    "description": "Reminders and the back office",
    "event_types": ["plan.created", "payment.applied"],
    "enabled": True,
    "disabled_reason": None,
    "secret_version": 1,
    "previous_secret_expires_at": None,
    "failing_since": None,
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}


class EndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "url": "https://shop.example/webhooks/bnpl",
                "event_types": ["plan.created", "payment.applied"],
                "description": "Reminders and the back office",
            }
        },
    )

    url: Url
    event_types: EventTypes
    description: Description = ""


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"enabled": True, "event_types": ["*"]}}
    )

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None,
        description="true re-enables a disabled endpoint: what happened meanwhile is delivered.",
    )


class EndpointOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _ENDPOINT_EXAMPLE})

    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    secret_version: int
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (a second `v1,` signature)."
    )
    failing_since: datetime | None = Field(
        description="Since when every attempt failed; disabled after three days of it."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    model_config = ConfigDict(
        json_schema_extra={"example": {**_ENDPOINT_EXAMPLE, "secret": _SECRET}}
    )

    secret: str = Field(description="The signing secret, shown this once. Keep it secret.")


class EndpointList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": [], "next_cursor": None}})

    data: list[EndpointOut]
    next_cursor: str | None


class SecretRotated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ENDPOINT_ID,
                "secret_version": 2,
                "previous_secret_expires_at": "2026-12-02T10:00:00Z",
                "secret": _SECRET,
            }
        }
    )

    id: uuid.UUID
    secret_version: int
    previous_secret_expires_at: datetime | None
    secret: str = Field(description="The new signing secret, shown this once.")


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class AttemptOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 981,
                "delivery_id": 412,
                "event_id": 1042,
                "attempted_at": "2026-12-01T10:00:01Z",
                "outcome": "failed",
                "status_code": 503,
                "duration_ms": 118,
                "response_body": "upstream unavailable",
                "error": None,
            }
        }
    )

    id: int
    delivery_id: int
    event_id: int
    attempted_at: datetime
    outcome: Outcome
    status_code: int | None
    duration_ms: int
    response_body: str | None = Field(description="The first 1 KiB of what the endpoint said.")
    error: str | None = Field(description="Why no answer came (timeout, refused address...).")


class AttemptList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"data": [], "next_cursor": None}})

    data: list[AttemptOut]
    next_cursor: str | None


class RecoverRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"since": "2026-12-01T00:00:00Z"}}
    )

    since: AwareDatetime


class Requeued(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"deliveries": 3}})

    deliveries: int = Field(description="Deliveries queued to be sent (again).")


class TestSent(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"event_id": 1043}})

    event_id: int = Field(description="The `endpoint.test` event queued for this endpoint.")


class WebhookPayload(BaseModel):
    """What every delivery posts, signed with Standard Webhooks headers (`webhook-id` is
    `evt_<id>`, the same on every retry)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 1042,
                "type": "payment.applied",
                "created_at": "2026-12-01T10:00:00.123456+00:00",
                "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2",
                "sequence": 3,
                "effective_date": None,
                "data": {"payment_id": "pay_3QxT1a", "amount": 10000, "applied": 10000},
            }
        }
    )

    id: int
    type: str
    created_at: datetime
    plan_id: uuid.UUID | None
    sequence: int | None = Field(
        description="The event's place among all its plan's events (1, 2, ...): order by it."
        " Numbers of types you do not subscribe to are skipped; null for events of no plan."
    )
    effective_date: date | None
    data: dict[str, Any]

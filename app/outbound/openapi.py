"""The OpenAPI 3.1 `webhooks` section: one operation per event type we send, with its
payload's schema and an example, from the catalog."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.outbound.catalog import EVENT_TYPES, EventType
from app.outbound.schemas import WebhookPayload

SIGNING = (
    "Signed with Standard Webhooks headers: `webhook-id` (`evt_<id>`, the same on every "
    "retry), `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 "
    'HMAC-SHA256 of "id.timestamp.body">`, two of them for 24 hours after a secret rotation). '
    "Answer 2xx within 10 seconds; anything else is retried with backoff for three days."
)


def _example(name: str, event_type: EventType) -> dict[str, object]:
    return {
        "id": 1042,
        "type": name,
        "created_at": "2026-12-01T10:00:00.123456+00:00",
        "plan_id": "01a2067f-1111-7efe-9292-8631ea0efaa2" if event_type.about_a_plan else None,
        "sequence": 3 if event_type.about_a_plan else None,
        "effective_date": None,
        "data": event_type.example,
    }


async def _received(payload: WebhookPayload) -> Response:  # pragma: no cover (documentation)
    return Response(status_code=204)


def add_webhooks(webhooks: APIRouter) -> None:
    """Describe every event type on `app.webhooks`."""
    for name, event_type in EVENT_TYPES.items():
        webhooks.add_api_route(
            name,
            _received,
            methods=["POST"],
            summary=event_type.summary,
            description=SIGNING,
            operation_id=f"webhook_{name.replace('.', '_')}",
            tags=["outbound events"],
            status_code=204,
            openapi_extra={
                "requestBody": {
                    "content": {"application/json": {"example": _example(name, event_type)}}
                }
            },
        )

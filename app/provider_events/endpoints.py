from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError

from app import clock
from app.cache import TtlCache
from app.config import Settings
from app.db import connection
from app.errors import Problem, invalid_document, problem_responses
from app.provider_events import repository, service
from app.provider_events.schemas import PaymentEvent, WebhookAck
from app.responses import json_response
from app.security import webhook_secret
from app.signing import SignatureError, verify

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
# Merchant -> its webhook secret (derived from the version the database holds), for
# `api_key_cache_seconds`.
SigningSecrets = TtlCache[uuid.UUID, str]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "bad-signature", "Signature not valid", detail)


@router.post(
    "/payment-events/{merchant_id}",
    response_model=WebhookAck,
    summary="Payment events from the payment provider (Standard Webhooks signed)",
    responses=problem_responses(400, 401, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PaymentEvent"}}
            },
        }
    },
)
async def payment_event(
    merchant_id: str,
    request: Request,
    webhook_id: Annotated[str | None, Header()] = None,
    webhook_timestamp: Annotated[str | None, Header()] = None,
    webhook_signature: Annotated[str | None, Header()] = None,
) -> Response:
    """Signed with the merchant's `webhook_secret`: `webhook-signature: v1,<base64 HMAC-SHA256
    of "{webhook-id}.{webhook-timestamp}.{body}">` (several space-separated while a secret
    rotates), the timestamp within 5 minutes. A bad signature is a 401 and nothing is stored.
    Each event `id` is applied once; a repeat answers 200 `duplicate` and changes nothing."""
    body = await request.body()
    settings: Settings = request.app.state.settings
    try:
        merchant = uuid.UUID(merchant_id)
    except ValueError:
        raise _unauthorized("Unknown merchant or bad signature") from None
    secret = await _signing_secret(request, merchant)
    try:
        verify(
            secret,
            webhook_id,
            webhook_timestamp,
            webhook_signature,
            body,
            now=clock.now(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        raise _unauthorized(str(exc)) from exc
    try:
        event = PaymentEvent.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise Problem(400, "malformed-json", "Malformed JSON", "The body is not JSON") from exc
        raise invalid_document(exc) from exc
    # Only a verified event takes a connection and a transaction.
    async with connection(request) as conn:
        ack = await service.apply(conn, merchant, event, body.decode())
    return json_response(ack)


async def _signing_secret(request: Request, merchant: uuid.UUID) -> str:
    """The merchant's current webhook secret, from the cache or else the database."""
    secrets: SigningSecrets = request.app.state.signing_secrets
    if (secret := secrets.get(merchant)) is None:
        async with connection(request, transaction=False) as conn:  # one read
            version = await repository.secret_version(conn, merchant)
        if version is None:
            raise _unauthorized("Unknown merchant or bad signature")
        settings: Settings = request.app.state.settings
        secret = webhook_secret(settings.server_key(), merchant, version)
        secrets.put(merchant, secret)
    return secret

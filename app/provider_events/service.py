"""Inbound payment events from the payment provider: each stored once under its id, then
handed to payments, in the caller's transaction."""

from __future__ import annotations

import uuid

from app.db import Connection
from app.payments import service as payments
from app.provider_events import repository
from app.provider_events.schemas import PaymentEvent, WebhookAck

SOURCE = "payment_provider"


async def apply(
    conn: Connection, merchant_id: uuid.UUID, event: PaymentEvent, payload: str
) -> WebhookAck:
    """Apply a verified event once: `payload` is the signed body as received, the record of
    what the provider said. A repeat of an event id answers `duplicate` and changes nothing."""
    data = event.data
    claimed, plan = await repository.claim_and_lock(
        conn, merchant_id, data.plan_id, SOURCE, event.id, event.type, payload
    )
    if not claimed:
        return WebhookAck(status="duplicate", event_id=event.id)
    source = "webhook"
    if event.type == "payment.succeeded":
        await payments.apply_payment(
            conn, plan, data.payment_id, data.amount, data.currency, event.occurred_at, source
        )
    elif event.type == "payment.failed":
        await payments.record_failure(
            conn,
            plan,
            data.payment_id,
            data.amount,
            data.currency,
            event.occurred_at,
            data.failure_code,
            source,
        )
    else:
        await payments.reverse_payment(conn, plan, data.payment_id, data.amount, data.failure_code)
    return WebhookAck(status="applied", event_id=event.id)

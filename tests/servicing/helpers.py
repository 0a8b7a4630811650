"""Helpers for payment and delinquency tests: pay, sign webhooks, sweep chosen plans."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from app import clock
from app.db import connect
from app.delinquency.sweep import SweepReport, sweep_batch
from app.signing import sign
from tests.conftest import Tenant


async def pay(
    tenant: Tenant, plan_id: str, amount: int, payment_id: str | None = None
) -> httpx.Response:
    return await tenant.client.post(
        f"/v1/plans/{plan_id}/payments",
        json={
            "payment_id": payment_id or f"pay_{uuid.uuid4().hex[:10]}",
            "amount": amount,
            "currency": "USD",
            "paid_at": "2026-11-23T12:00:00Z",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


def event_body(
    type_: str, plan_id: str, payment_id: str, amount: int, event_id: str | None = None, **data: Any
) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:10]}",
            "type": type_,
            "occurred_at": "2026-11-23T12:00:00Z",
            "data": {
                "payment_id": payment_id,
                "plan_id": plan_id,
                "amount": amount,
                "currency": "USD",
                **data,
            },
        }
    ).encode()


def signed_headers(
    secret: str, body: bytes, *, msg_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    ts = int(clock.now().timestamp()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


async def deliver(tenant: Tenant, body: bytes, **kwargs: Any) -> httpx.Response:
    return await tenant.client.post(
        f"/v1/webhooks/payment-events/{tenant.id}",
        content=body,
        headers=signed_headers(tenant.webhook_secret, body, **kwargs),
    )


async def sweep_plans(app: FastAPI, plan_ids: list[str], as_of: date) -> SweepReport:
    """Sweep just these plans (the full sweep would also move other tests' plans)."""
    ids = [uuid.UUID(p) for p in plan_ids]
    async with connect(app.state.engine) as conn:
        await conn.execute("SELECT FROM plans WHERE id = ANY($1::uuid[]) FOR UPDATE", ids)
        return await sweep_batch(conn, ids, as_of)

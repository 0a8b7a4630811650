"""Helpers for payment and delinquency tests: pay, sign webhooks, sweep chosen plans."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import clock
from app.delinquency.sweep import SweepReport, sweep_batch
from app.models import Plan
from app.webhooks.signing import sign
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


async def pay_by_webhook(tenant: Tenant, plan_id: str, payment_id: str, amount: int) -> None:
    body = event_body("payment.succeeded", plan_id, payment_id, amount)
    assert (await deliver(tenant, body)).status_code == 200


async def reverse_by_webhook(tenant: Tenant, plan_id: str, payment_id: str, amount: int) -> None:
    body = event_body("payment.reversed", plan_id, payment_id, amount)
    assert (await deliver(tenant, body)).status_code == 200


async def sweep_plans(app: FastAPI, plan_ids: list[str], as_of: date) -> SweepReport:
    """Sweep just these plans (the full sweep would also move other tests' plans)."""
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    ids = [uuid.UUID(p) for p in plan_ids]
    async with factory() as session, session.begin():
        await session.execute(select(Plan.id).where(Plan.id.in_(ids)).with_for_update())
        return await sweep_batch(session, ids, as_of)

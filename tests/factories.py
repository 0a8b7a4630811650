"""The tests' helpers: a fresh merchant per test (`create_tenant`), small create_* helpers over the
public API (tests build what they need, nothing more), payments and signed provider events, a
sweep of chosen plans, a wait for requests a test holds back on a lock, and `bnpl` run as a user
runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app import clock
from app.db import connect
from app.delinquency.sweep import SweepReport, sweep_batch
from app.merchants.service import create_merchant
from app.signing import sign

PAY_IN_4_PRODUCT: dict[str, Any] = {
    "name": "Pay in 4",
    "currency": "USD",
    "min_amount": 5000,
    "max_amount": 200000,
    "offers": [
        {"installments": 3, "frequency": "biweekly"},
        {"installments": 6, "frequency": "monthly", "interest_rate": "9.99"},
    ],
    "deposit": {"min_percent": "25", "max_percent": "50"},
    "late_fees": {
        "grace_days": 3,
        "first_fee": {"amount": 1000},
        "second_fee": {"after_days": 7, "amount": 700},
        "cap_per_installment": 1700,
        "cap_per_plan": {"percent": "25", "amount": 6800},
    },
}


async def create_product(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/v1/products", json={**PAY_IN_4_PRODUCT, **changes})
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def plan_body(product: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "customer_id": f"cus_{uuid.uuid4().hex[:12]}",
        "order_id": f"ord_{uuid.uuid4().hex[:12]}",
        "product_id": product["id"],
        "amount": 40000,
        "installments": 3,
        "frequency": "biweekly",
        "start_date": "2026-12-01",
        **changes,
    }


async def create_plan(
    client: httpx.AsyncClient, product: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/plans",
        json=plan_body(product, **changes),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


async def wait_until_waiting(
    holder: AsyncConnection, count: int, *, locktype: str | None = None
) -> None:
    """Return once `count` lock requests (of `locktype`, if given) wait in PostgreSQL: the
    requests a test holds back with a lock taken on `holder` have all reached it."""
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted"
        " AND (CAST(:locktype AS text) IS NULL OR locktype = :locktype)"
    )
    for _ in range(500):
        if (await holder.execute(waiting, {"locktype": locktype})).scalar_one() == count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"{count} lock requests never waited together")


async def twins_make_one_plan(
    client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], count: int = 5
) -> None:
    """POST /v1/plans `count` times at once with one key and body, held until all wait (the
    first on a lock on agreements, which its plan's write needs; the others on its key); then
    check one plan was made, answered once and replayed to the others."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with engine.connect() as holder:
        await holder.execute(text("LOCK TABLE agreements IN SHARE ROW EXCLUSIVE MODE"))
        twins = [
            asyncio.create_task(client.post("/v1/plans", json=body, headers=key))
            for _ in range(count)
        ]
        await wait_until_waiting(holder, count)
        await holder.rollback()
    responses = await asyncio.gather(*twins)
    assert [r.status_code for r in responses] == [201] * count
    assert len({r.text for r in responses}) == 1
    replayed = sorted(r.headers.get("idempotent-replayed", "") for r in responses)
    assert replayed == ["", *["true"] * (count - 1)]
    listed = (await client.get("/v1/plans", params={"customer_id": body["customer_id"]})).json()
    assert len(listed["data"]) == 1


def bnpl_env(database_url: str, **env: str) -> dict[str, str]:
    """The environment of a `bnpl` command run as a user runs it, against the test database:
    no BNPL_* setting of ours beyond a server key and `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BNPL_")}
    clean.update(
        DATABASE_URL=database_url,
        BNPL_SECRET_KEY="test-server-key-not-for-production-0123456789",
        **env,
    )
    return clean


def run_bnpl(
    database_url: str, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """`bnpl ARGS` to its end, in `bnpl_env`."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=bnpl_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def recreate_database(url: str, name: str) -> None:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.query.get("host") or u.host,
        port=int(u.query.get("port") or u.port or 5432),
        user=u.username,
        password=u.password,
        database=u.database,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class Tenant:
    id: uuid.UUID
    api_key: str
    webhook_secret: str
    client: httpx.AsyncClient


def client_for(app: FastAPI, api_key: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def create_tenant(app: FastAPI, name: str = "Test shop") -> Tenant:
    """A fresh merchant: each test works in its own tenant, so tests never see each other."""
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with factory() as session, session.begin():
        creds = await create_merchant(session, name, app.state.settings.server_key())
    return Tenant(
        creds.merchant_id, creds.api_key, creds.webhook_secret, client_for(app, creds.api_key)
    )


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
    ids = [uuid.UUID(p) for p in plan_ids]
    async with connect(app.state.engine) as conn:
        await conn.execute("SELECT FROM plans WHERE id = ANY($1::uuid[]) FOR UPDATE", ids)
        return await sweep_batch(conn, ids, as_of)

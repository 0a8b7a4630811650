from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.signing import sign
from tests.factories import Tenant, create_plan, create_product, deliver, event_body, signed_headers


@pytest.fixture
async def plan(tenant: Tenant) -> dict[str, Any]:
    product = await create_product(tenant.client)
    return await create_plan(tenant.client, product)


async def _stored(engine: AsyncEngine, tenant: Tenant) -> int:
    async with engine.connect() as conn:
        count = await conn.execute(
            text("SELECT count(*) FROM inbound_events WHERE merchant_id = :m"), {"m": tenant.id}
        )
        return int(count.scalar_one())


async def _paid(tenant: Tenant, plan: dict[str, Any]) -> int:
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    return sum(i["amount_paid"] for i in body["installments"])


async def test_signed_payment_is_applied(tenant: Tenant, plan: dict[str, Any]) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_w1", 10000, event_id="evt_1")
    response = await deliver(tenant, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "applied", "event_id": "evt_1"}
    assert await _paid(tenant, plan) == 10000
    payments = (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()["data"]
    assert [(p["payment_id"], p["source"]) for p in payments] == [("pay_w1", "webhook")]


@pytest.mark.parametrize(
    "fault", ["wrong_secret", "stale", "future", "tampered", "missing", "garbage"]
)
async def test_bad_signatures_are_401_and_store_nothing(
    tenant: Tenant, plan: dict[str, Any], engine: AsyncEngine, fault: str
) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_bad", 10000)
    now = int(clock.now().timestamp())
    headers = signed_headers(tenant.webhook_secret, body)
    if fault == "wrong_secret":
        headers = signed_headers("whsec_" + "A" * 44, body)
    elif fault == "stale":
        headers = signed_headers(tenant.webhook_secret, body, timestamp=now - 301)
    elif fault == "future":
        headers = signed_headers(tenant.webhook_secret, body, timestamp=now + 301)
    elif fault == "tampered":
        body = body.replace(b"10000", b"99999")
    elif fault == "missing":
        del headers["webhook-signature"]
    else:
        headers["webhook-signature"] = "v1,not-base64!!"
    response = await tenant.client.post(
        f"/v1/webhooks/payment-events/{tenant.id}", content=body, headers=headers
    )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await _stored(engine, tenant) == 0
    assert await _paid(tenant, plan) == 0


async def test_timestamp_inside_the_window_is_accepted(
    tenant: Tenant, plan: dict[str, Any]
) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_edge", 100)
    response = await deliver(tenant, body, timestamp=int(clock.now().timestamp()) - 299)
    assert response.status_code == 200


async def test_two_signatures_during_rotation(tenant: Tenant, plan: dict[str, Any]) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_rot", 100)
    ts = int(clock.now().timestamp())
    old = sign("whsec_" + "B" * 44, "m", ts, body)
    new = sign(tenant.webhook_secret, "m", ts, body)
    headers = {"webhook-id": "m", "webhook-timestamp": str(ts), "webhook-signature": f"{old} {new}"}
    response = await tenant.client.post(
        f"/v1/webhooks/payment-events/{tenant.id}", content=body, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_another_merchants_secret_is_refused(
    tenant: Tenant, other_tenant: Tenant, plan: dict[str, Any]
) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_x", 100)
    response = await tenant.client.post(
        f"/v1/webhooks/payment-events/{tenant.id}",
        content=body,
        headers=signed_headers(other_tenant.webhook_secret, body),
    )
    assert response.status_code == 401
    # Signed right for B, about A's plan: B gets a 404 and nothing happens to A's plan.
    response = await deliver(other_tenant, body)
    assert response.status_code == 404
    assert await _paid(tenant, plan) == 0


async def test_unknown_merchant_is_401(tenant: Tenant) -> None:
    for merchant in ("not-a-uuid", "01a2067f-0000-7000-8000-000000000000"):
        response = await tenant.client.post(
            f"/v1/webhooks/payment-events/{merchant}", content=b"{}"
        )
        assert response.status_code == 401


async def test_repeat_event_changes_nothing(tenant: Tenant, plan: dict[str, Any]) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_rep", 3000, event_id="evt_rep")
    assert (await deliver(tenant, body)).json()["status"] == "applied"
    again = await deliver(tenant, body, msg_id="msg_2")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": "evt_rep"}
    assert await _paid(tenant, plan) == 3000


async def test_fifty_concurrent_deliveries_apply_once(tenant: Tenant, plan: dict[str, Any]) -> None:
    body = event_body("payment.succeeded", plan["id"], "pay_50", 7000, event_id="evt_50")
    responses = await asyncio.gather(*(deliver(tenant, body) for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert sorted(r.json()["status"] for r in responses).count("applied") == 1
    assert await _paid(tenant, plan) == 7000


async def test_failed_payment_is_recorded_without_moving_money(
    tenant: Tenant, plan: dict[str, Any]
) -> None:
    body = event_body(
        "payment.failed", plan["id"], "pay_f", 10000, failure_code="insufficient_funds"
    )
    assert (await deliver(tenant, body)).status_code == 200
    assert await _paid(tenant, plan) == 0
    payments = (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()["data"]
    assert [(p["status"], p["failure_code"], p["allocations"]) for p in payments] == [
        ("failed", "insufficient_funds", [])
    ]
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert events[-1]["type"] == "payment.failed"


async def test_reversal_reopens_exactly_what_was_paid(tenant: Tenant, plan: dict[str, Any]) -> None:
    await deliver(tenant, event_body("payment.succeeded", plan["id"], "pay_1", 10000))
    await deliver(tenant, event_body("payment.succeeded", plan["id"], "pay_2", 15000))
    before = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert [i["amount_paid"] for i in before["installments"]] == [10000, 10000, 5000, 0]
    response = await deliver(
        tenant,
        event_body("payment.reversed", plan["id"], "pay_2", 15000, failure_code="chargeback"),
    )
    assert response.status_code == 200, response.text
    after = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert [i["amount_paid"] for i in after["installments"]] == [10000, 0, 0, 0]
    assert after["status"] == "active"
    payments = (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()["data"]
    reversed_ = next(p for p in payments if p["payment_id"] == "pay_2")
    assert reversed_["status"] == "reversed"
    assert sum(a["amount"] for a in reversed_["allocations"]) == 0
    again = await deliver(tenant, event_body("payment.reversed", plan["id"], "pay_2", 15000))
    assert again.status_code == 200
    assert [
        i["amount_paid"]
        for i in (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()["installments"]
    ] == [10000, 0, 0, 0]


async def test_reversal_of_a_paid_off_plan_reopens_it(tenant: Tenant, plan: dict[str, Any]) -> None:
    await deliver(tenant, event_body("payment.succeeded", plan["id"], "pay_all", 45000))
    paid = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert (paid["status"], paid["credit_balance"]) == ("paid_off", 5000)
    await deliver(tenant, event_body("payment.reversed", plan["id"], "pay_all", 45000))
    after = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert (after["status"], after["credit_balance"]) == ("active", 0)
    assert sum(i["amount_paid"] for i in after["installments"]) == 0


async def test_reversal_of_unknown_payment_is_422_and_not_stored(
    tenant: Tenant, plan: dict[str, Any], engine: AsyncEngine
) -> None:
    response = await deliver(tenant, event_body("payment.reversed", plan["id"], "pay_none", 100))
    assert response.status_code == 422
    assert await _stored(engine, tenant) == 0


async def test_nul_character_is_422_and_not_stored(
    tenant: Tenant, plan: dict[str, Any], engine: AsyncEngine
) -> None:
    body = event_body("payment.failed", plan["id"], "pay_nul", 100, failure_code="card\u0000")
    response = await deliver(tenant, body)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("unstorable-text")
    assert await _stored(engine, tenant) == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        json.dumps(
            {
                "id": "e",
                "type": "payment.refunded",
                "occurred_at": "2026-11-23T12:00:00Z",
                "data": {},
            }
        ).encode(),
        json.dumps(
            {"id": "e", "type": "payment.succeeded", "occurred_at": "yesterday", "data": {}}
        ).encode(),
        json.dumps([1, 2]).encode(),
    ],
)
async def test_bad_payloads_are_4xx(tenant: Tenant, payload: bytes, engine: AsyncEngine) -> None:
    response = await deliver(tenant, payload)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await _stored(engine, tenant) == 0

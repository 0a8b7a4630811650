from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from app import clock
from app.db import connect
from app.delinquency.service import refresh
from tests.factories import Tenant, create_plan, create_product, pay


@pytest.fixture
async def plan(tenant: Tenant) -> dict[str, Any]:
    product = await create_product(tenant.client)
    return await create_plan(tenant.client, product)


def _paid(plan: dict[str, Any]) -> list[int]:
    return [i["amount_paid"] for i in plan["installments"]]


async def _get(tenant: Tenant, plan: dict[str, Any]) -> dict[str, Any]:
    response = await tenant.client.get(f"/v1/plans/{plan['id']}")
    body: dict[str, Any] = response.json()
    return body


async def test_deposit_activates_the_plan(tenant: Tenant, plan: dict[str, Any]) -> None:
    response = await pay(tenant, plan["id"], 10000, "pay_deposit")
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "succeeded"
    assert payment["allocations"] == [
        {
            "installment_id": plan["installments"][0]["id"],
            "sequence": 0,
            "component": "principal",
            "amount": 10000,
        }
    ]
    after = await _get(tenant, plan)
    assert after["status"] == "active"
    assert after["installments"][0]["status"] == "paid"
    types = [
        e["type"]
        for e in (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    ]
    assert types == ["plan.created", "payment.applied", "plan.activated"]


async def test_partial_then_prepayment(tenant: Tenant, plan: dict[str, Any]) -> None:
    await pay(tenant, plan["id"], 4000)
    after = await _get(tenant, plan)
    assert _paid(after) == [4000, 0, 0, 0]
    assert after["installments"][0]["status"] == "partially_paid"
    assert after["status"] == "pending"
    await pay(tenant, plan["id"], 21000)
    after = await _get(tenant, plan)
    assert _paid(after) == [10000, 10000, 5000, 0]
    assert [i["status"] for i in after["installments"]] == [
        "paid",
        "paid",
        "partially_paid",
        "scheduled",
    ]
    assert after["status"] == "active"


async def test_overpayment_becomes_a_credit_and_pays_off(
    tenant: Tenant, plan: dict[str, Any]
) -> None:
    response = await pay(tenant, plan["id"], 41500)
    payment = response.json()
    assert payment["credit"] == 1500
    assert payment["allocations"][-1] == {
        "installment_id": None,
        "sequence": None,
        "component": "credit",
        "amount": 1500,
    }
    after = await _get(tenant, plan)
    assert after["status"] == "paid_off"
    assert after["credit_balance"] == 1500
    types = [
        e["type"]
        for e in (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    ]
    assert types[-4:] == [
        "payment.applied",
        "plan.credit_balance",
        "plan.activated",
        "plan.paid_off",
    ]


async def test_same_payment_id_is_applied_once(tenant: Tenant, plan: dict[str, Any]) -> None:
    first = await pay(tenant, plan["id"], 5000, "pay_same")
    second = await pay(tenant, plan["id"], 5000, "pay_same")
    assert first.status_code == 201
    assert second.status_code == 201
    # The first answer is built from what was written, the second read back: the same.
    assert first.json() == second.json()
    assert _paid(await _get(tenant, plan)) == [5000, 0, 0, 0]
    conflict = await pay(tenant, plan["id"], 6000, "pay_same")
    assert conflict.status_code == 409


async def test_wrong_currency_is_refused(tenant: Tenant, plan: dict[str, Any]) -> None:
    response = await tenant.client.post(
        f"/v1/plans/{plan['id']}/payments",
        json={
            "payment_id": "p_eur",
            "amount": 100,
            "currency": "EUR",
            "paid_at": "2026-11-23T12:00:00Z",
        },
        headers={"Idempotency-Key": "eur"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "currency_mismatch"
    assert _paid(await _get(tenant, plan)) == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 0},
        {"amount": 1.5},
        {"amount": True},
        {"paid_at": "2026-11-23T12:00:00"},
        {"payment_id": ""},
    ],
)
async def test_bad_payment_requests(
    tenant: Tenant, plan: dict[str, Any], change: dict[str, Any]
) -> None:
    body = {
        "payment_id": "p1",
        "amount": 100,
        "currency": "USD",
        "paid_at": "2026-11-23T12:00:00Z",
        **change,
    }
    response = await tenant.client.post(
        f"/v1/plans/{plan['id']}/payments", json=body, headers={"Idempotency-Key": "bad"}
    )
    assert response.status_code == 422, response.text


async def test_list_payments_shows_allocations(tenant: Tenant, plan: dict[str, Any]) -> None:
    created = (await pay(tenant, plan["id"], 15000, "pay_a")).json()
    await pay(tenant, plan["id"], 1000, "pay_b")
    listed = (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()["data"]
    assert [p["payment_id"] for p in listed] == ["pay_a", "pay_b"]
    assert listed[0] == created
    assert [(a["sequence"], a["amount"]) for a in listed[0]["allocations"]] == [
        (0, 10000),
        (1, 5000),
    ]


async def test_concurrent_payments_on_one_plan_lose_nothing(
    tenant: Tenant, plan: dict[str, Any]
) -> None:
    responses = await asyncio.gather(*(pay(tenant, plan["id"], 1000) for _ in range(20)))
    assert {r.status_code for r in responses} == {201}
    assert sum(_paid(await _get(tenant, plan))) == 20000


@pytest.mark.parametrize("start_date", ["2026-11-23", "2026-12-01"])
async def test_skipped_recompute_is_one_that_would_change_nothing(
    app: FastAPI, tenant: Tenant, start_date: str
) -> None:
    """A payment on a current plan skips the status/delinquency recompute when it provably
    changes nothing: running it afterwards must indeed change nothing."""
    product = await create_product(tenant.client)
    plan = await create_plan(tenant.client, product, start_date=start_date)
    for amount in (2500, 7500, 100, 14900, 15000):
        assert (await pay(tenant, plan["id"], amount)).status_code == 201
        before = await _get(tenant, plan)
        async with connect(app.state.engine) as conn:
            moved = await refresh(conn, [uuid.UUID(plan["id"])], clock.today())
        assert moved == 0
        assert await _get(tenant, plan) == before

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.db import connect
from app.delinquency.sweep import sweep_batch
from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    pay,
    sweep_plans,
    wait_until_waiting,
)

LATE_FEES = {
    "grace_days": 3,
    "first_fee": {"amount": 1000},
    "second_fee": {"after_days": 7, "amount": 700},
    "cap_per_installment": 1700,
    "cap_per_plan": {"percent": "25", "amount": 6800},
}


def set_today(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: moment)


async def _product(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "deposit": {"min_percent": "0", "max_percent": "50"},
        "late_fees": LATE_FEES,
        "eligibility": {"max_active_plans_per_customer": None},
    }
    return await create_product(tenant.client, **{**defaults, **changes})


async def _plan(tenant: Tenant, product: dict[str, Any], **changes: Any) -> dict[str, Any]:
    # 300.00 in 3 biweekly installments from 2026-11-23: due Dec 7, Dec 21, Jan 4.
    return await create_plan(
        tenant.client, product, **{"amount": 30000, "start_date": "2026-11-23", **changes}
    )


async def _events(tenant: Tenant, plan_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = (await tenant.client.get(f"/v1/plans/{plan_id}/events", params=params)).json()
        events += page["data"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return events


async def test_a_plan_walked_day_by_day_to_default_and_cured(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await _product(tenant)
    plan = await _plan(tenant, product)
    assert plan["status"] == "active"
    day, states = date(2026, 11, 23), {}
    while day <= date(2027, 3, 8):
        await sweep_plans(app, [plan["id"]], day)
        body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
        states[day] = (
            body["delinquency"]["state"],
            body["delinquency"]["days_past_due"],
            body["status"],
        )
        day += timedelta(days=1)
    assert states[date(2026, 12, 7)] == ("current", 0, "active")
    assert states[date(2026, 12, 8)] == ("late", 1, "active")
    assert states[date(2026, 12, 10)] == ("late", 3, "active")
    assert states[date(2026, 12, 11)] == ("delinquent", 4, "active")
    assert states[date(2027, 3, 6)] == ("delinquent", 89, "active")
    assert states[date(2027, 3, 7)] == ("default", 90, "defaulted")
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert body["delinquency"] == {
        "state": "default",
        "days_past_due": 91,
        "bucket": "91+",
        "since": "2027-03-07",
    }
    assert [i["late_fee"] for i in body["installments"]] == [1700, 1700, 1700]
    assert [i["status"] for i in body["installments"]] == ["overdue"] * 3

    events = await _events(tenant, plan["id"])
    fees = [
        (e["effective_date"], e["data"]["step"], e["data"]["amount"])
        for e in events
        if e["type"] == "late_fee.assessed"
    ]
    assert fees == [
        ("2026-12-11", 1, 1000),
        ("2026-12-18", 2, 700),
        ("2026-12-25", 1, 1000),
        ("2027-01-01", 2, 700),
        ("2027-01-08", 1, 1000),
        ("2027-01-15", 2, 700),
    ]
    changes = [
        (e["effective_date"], e["data"]["from"], e["data"]["to"])
        for e in events
        if e["type"] == "plan.delinquency_changed"
    ]
    assert changes == [
        ("2026-12-08", "current", "late"),
        ("2026-12-11", "late", "delinquent"),
        ("2027-03-07", "delinquent", "default"),
    ]
    reminders = [
        (e["type"], e["data"]["sequence"], e["data"]["days_from_due"])
        for e in events
        if e["type"].startswith("installment.")
    ]
    assert reminders[:5] == [
        ("installment.upcoming", 1, -7),
        ("installment.due", 1, 0),
        ("installment.overdue", 1, 1),
        ("installment.overdue", 1, 7),
        ("installment.upcoming", 2, -7),
    ]
    assert ("installment.overdue", 1, 90) in reminders
    assert len(reminders) == len(set(reminders))
    assert [e["type"] for e in events].count("plan.defaulted") == 1

    # Paying the oldest installment (with its late fees) cures the default.
    set_today(monkeypatch, date(2027, 3, 8))
    assert (await pay(tenant, plan["id"], 11700)).status_code == 201
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert body["status"] == "active"
    assert body["delinquency"]["state"] == "delinquent"
    assert body["delinquency"]["days_past_due"] == 77
    assert (await pay(tenant, plan["id"], 23400)).status_code == 201
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert (body["status"], body["delinquency"]["state"], body["delinquency"]["since"]) == (
        "paid_off",
        "current",
        "2027-03-08",
    )
    tail = [e["type"] for e in await _events(tenant, plan["id"])][-6:]
    assert tail == [
        "payment.applied",
        "plan.delinquency_changed",
        "plan.cured",
        "payment.applied",
        "plan.delinquency_changed",
        "plan.paid_off",
    ]


async def test_sweeping_the_same_day_twice_changes_nothing(tenant: Tenant, app: FastAPI) -> None:
    plan = await _plan(tenant, await _product(tenant))
    first = await sweep_plans(app, [plan["id"]], date(2027, 1, 20))
    assert first.late_fees == 6
    before = await _events(tenant, plan["id"])
    second = await sweep_plans(app, [plan["id"]], date(2027, 1, 20))
    assert (second.late_fees, second.reminders, second.delinquency_events) == (0, 0, 0)
    assert await _events(tenant, plan["id"]) == before


async def test_a_late_sweep_catches_up_without_a_flood_of_reminders(
    tenant: Tenant, app: FastAPI
) -> None:
    plan = await _plan(tenant, await _product(tenant))
    report = await sweep_plans(app, [plan["id"]], date(2027, 1, 20))
    # Only the latest rung reached per installment: 44, 30 and 16 days late -> rungs 30, 30, 7.
    events = await _events(tenant, plan["id"])
    rungs = sorted(
        (e["data"]["sequence"], e["data"]["days_from_due"])
        for e in events
        if e["type"] == "installment.overdue"
    )
    assert rungs == [(1, 30), (2, 30), (3, 7)]
    assert report.reminders == 3


async def test_plan_cap_is_the_lower_of_percent_and_amount(tenant: Tenant, app: FastAPI) -> None:
    fees = {
        **LATE_FEES,
        "cap_per_installment": None,
        "first_fee": {"amount": 3000},
        "second_fee": {"after_days": 7, "amount": 3000},
    }
    product = await _product(tenant, late_fees=fees)
    plan = await _plan(tenant, product)  # 25 % of 300.00 is 75.00: the 68.00 cap is lower
    await sweep_plans(app, [plan["id"]], date(2027, 2, 1))
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert sum(i["late_fee"] for i in body["installments"]) == 6800
    assert [i["late_fee"] for i in body["installments"]] == [6000, 800, 0]
    small = await _plan(tenant, product, amount=10000)  # 25 % of 100.00 = 25.00 < 68.00
    await sweep_plans(app, [small["id"]], date(2027, 2, 1))
    body = (await tenant.client.get(f"/v1/plans/{small['id']}")).json()
    assert sum(i["late_fee"] for i in body["installments"]) == 2500


async def test_percent_fee_and_per_customer_cap(tenant: Tenant, app: FastAPI) -> None:
    fees = {"grace_days": 0, "first_fee": {"percent": "10"}, "cap_per_customer_12_months": 1500}
    product = await _product(tenant, late_fees=fees)
    a = await _plan(tenant, product, customer_id="cus_capped")
    b = await _plan(tenant, product, customer_id="cus_capped")
    await sweep_plans(app, [a["id"], b["id"]], date(2026, 12, 8))
    bodies = [(await tenant.client.get(f"/v1/plans/{p['id']}")).json() for p in (a, b)]
    # 10 % of 100.00 = 10.00 on each first installment; the customer cap leaves 5.00 for the second.
    assert sorted(body["installments"][0]["late_fee"] for body in bodies) == [500, 1000]


async def test_batches_assessing_one_customer_take_turns_under_the_customer_cap(
    tenant: Tenant, app: FastAPI, engine: AsyncEngine
) -> None:
    fees = {"grace_days": 0, "first_fee": {"percent": "10"}, "cap_per_customer_12_months": 1500}
    product = await _product(tenant, late_fees=fees)
    a = await _plan(tenant, product, customer_id="cus_two_batches")
    b = await _plan(tenant, product, customer_id="cus_two_batches")
    # Two workers' batches at once, one plan each: the second waits for the first to commit,
    # then sees its fee under the cap.
    async with connect(app.state.engine) as first:
        await sweep_batch(first, [uuid.UUID(a["id"])], date(2026, 12, 8))
        second = asyncio.create_task(sweep_plans(app, [b["id"]], date(2026, 12, 8)))
        async with engine.connect() as watcher:
            await wait_until_waiting(watcher, 1, locktype="advisory")
    await second
    bodies = [(await tenant.client.get(f"/v1/plans/{p['id']}")).json() for p in (a, b)]
    assert [body["installments"][0]["late_fee"] for body in bodies] == [1000, 500]


async def test_payment_and_sweep_racing_on_one_plan(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await _plan(tenant, await _product(tenant))
    set_today(monkeypatch, date(2026, 12, 20))
    results = await asyncio.gather(
        sweep_plans(app, [plan["id"]], date(2026, 12, 20)),
        pay(tenant, plan["id"], 5000),
        sweep_plans(app, [plan["id"]], date(2026, 12, 20)),
        pay(tenant, plan["id"], 5000),
    )
    assert results[1].status_code == results[3].status_code == 201
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert sum(i["amount_paid"] for i in body["installments"]) == 10000
    assert sum(i["late_fee"] for i in body["installments"]) == 1700
    events = await _events(tenant, plan["id"])
    assert [e["type"] for e in events].count("late_fee.assessed") == 2


async def test_tolerance_keeps_a_few_cents_from_making_a_plan_late(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await _product(tenant, past_due_tolerance=50, late_fees=None)
    plan = await _plan(tenant, product)
    await pay(tenant, plan["id"], 9960)
    await sweep_plans(app, [plan["id"]], date(2026, 12, 15))
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert body["installments"][0]["status"] == "overdue"
    assert body["delinquency"]["state"] == "current"

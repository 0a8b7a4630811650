"""A plan is born in the state the sweep would give it on the day it is made: a plan imported
with a past start date has its past lines overdue, its delinquency counted from the oldest, and
its status moved to `defaulted` when that is where the sweep would put it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from app import clock
from tests.factories import Tenant, create_plan, create_product, sweep_plans

NO_DEPOSIT = {"min_percent": "0", "max_percent": "50"}


async def _events(tenant: Tenant, plan: dict[str, Any]) -> list[dict[str, Any]]:
    response = await tenant.client.get(f"/v1/plans/{plan['id']}/events", params={"limit": 100})
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def test_an_imported_plan_long_unpaid_is_born_in_default(
    tenant: Tenant, app: FastAPI
) -> None:
    product = await create_product(tenant.client, deposit=NO_DEPOSIT)
    start = clock.today() - timedelta(days=190)
    plan = await create_plan(tenant.client, product, start_date=start.isoformat())
    oldest = start + timedelta(days=14)
    days = (clock.today() - oldest).days
    assert [i["status"] for i in plan["installments"]] == ["overdue"] * 3
    assert plan["delinquency"] == {
        "state": "default",
        "days_past_due": days,
        "bucket": "91+",
        "since": (oldest + timedelta(days=90)).isoformat(),
    }
    assert plan["status"] == "defaulted"
    got = await tenant.client.get(f"/v1/plans/{plan['id']}")
    assert got.json()["status"] == "defaulted"
    assert got.json()["delinquency"] == plan["delinquency"]
    types = [e["type"] for e in await _events(tenant, plan)]
    assert types == [
        "plan.created",
        "plan.activated",
        "plan.delinquency_changed",
        "plan.defaulted",
    ]
    # The day's sweep finds its status and delinquency already where it would put them.
    report = await sweep_plans(app, [plan["id"]], clock.today())
    assert report.delinquency_events == 0
    swept = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert (swept["status"], swept["delinquency"]) == ("defaulted", plan["delinquency"])
    assert [i["status"] for i in swept["installments"]] == ["overdue"] * 3


async def test_an_imported_plan_a_few_days_late_is_born_late(tenant: Tenant) -> None:
    product = await create_product(tenant.client, deposit=NO_DEPOSIT)
    start = clock.today() - timedelta(days=16)
    plan = await create_plan(tenant.client, product, start_date=start.isoformat())
    assert [i["status"] for i in plan["installments"]] == ["overdue", "scheduled", "scheduled"]
    assert plan["delinquency"]["state"] == "late"  # within the product's 3 days of grace
    assert plan["delinquency"]["days_past_due"] == 2
    assert plan["status"] == "active"


async def test_eligibility_sees_a_plan_imported_in_bad_standing(tenant: Tenant) -> None:
    product = await create_product(tenant.client, deposit=NO_DEPOSIT)
    start = clock.today() - timedelta(days=60)
    plan = await create_plan(tenant.client, product, start_date=start.isoformat())
    assert plan["delinquency"]["state"] == "delinquent"
    response = await tenant.client.post(
        "/v1/eligibility",
        json={
            "product_id": product["id"],
            "customer_id": plan["customer_id"],
            "amount": 40000,
            "currency": "USD",
        },
    )
    assert response.status_code == 200
    assert [r["code"] for r in response.json()["reasons"]] == ["customer_delinquent"]


async def test_a_plan_due_today_is_born_with_its_line_due(tenant: Tenant) -> None:
    product = await create_product(
        tenant.client, deposit={"min_percent": "25", "max_percent": "50"}
    )
    plan = await create_plan(tenant.client, product, start_date=clock.today().isoformat())
    assert plan["installments"][0]["status"] == "due"  # the deposit, due on the start date
    assert plan["delinquency"]["state"] == "current"

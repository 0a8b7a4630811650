"""Every change of money leaves a plan's status and delinquency as the sweep would compute them,
and the sweep repairs a plan an older write left otherwise (issue 12, the second defect)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    pay_by_webhook,
    reverse_by_webhook,
    sweep_plans,
)

TODAY = date(2026, 11, 23)
# Biweekly from here: everything fell due in June and July, far past the default threshold.
BACK_DATED = "2026-06-01"
_STATUS_EVENTS = {"plan.activated", "plan.defaulted", "plan.cured", "plan.reopened"}


async def _plan(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    product = await create_product(tenant.client, default_after_days=90)
    return await create_plan(tenant.client, product, start_date=BACK_DATED, **changes)


async def _get(tenant: Tenant, plan: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    return body


async def _events(tenant: Tenant, plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    data = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    return [(e["type"], e["data"]) for e in data]


async def test_reversal_reopening_a_paid_off_plan_in_default_defaults_it(tenant: Tenant) -> None:
    plan = await _plan(tenant)
    await pay_by_webhook(tenant, plan["id"], "pay_all", 40000)
    assert (await _get(tenant, plan))["status"] == "paid_off"
    await reverse_by_webhook(tenant, plan["id"], "pay_all", 40000)
    after = await _get(tenant, plan)
    days = (TODAY - date(2026, 6, 1)).days
    assert after["delinquency"]["state"] == "default"
    assert after["delinquency"]["days_past_due"] == days
    assert after["status"] == "defaulted"
    events = await _events(tenant, plan)
    assert events[-2:] == [("plan.reopened", {}), ("plan.defaulted", {"days_past_due": days})]


async def test_deposit_activating_a_back_dated_plan_in_default_defaults_it(
    tenant: Tenant,
) -> None:
    plan = await _plan(tenant)
    assert plan["status"] == "pending"
    await pay_by_webhook(tenant, plan["id"], "pay_deposit", 10000)
    after = await _get(tenant, plan)
    days = (TODAY - date(2026, 6, 15)).days  # the first installment after the deposit
    assert after["delinquency"]["state"] == "default"
    assert after["status"] == "defaulted"
    events = await _events(tenant, plan)
    assert events[-2:] == [("plan.activated", {}), ("plan.defaulted", {"days_past_due": days})]


async def test_sweep_repairs_an_active_plan_left_in_default(
    app: FastAPI, engine: AsyncEngine, tenant: Tenant
) -> None:
    """A plan an older write left `active` in `default` (delinquency already as of today): the
    sweep of the same day defaults it, though its delinquency does not move."""
    plan = await _plan(tenant)
    await pay_by_webhook(tenant, plan["id"], "pay_deposit", 10000)
    days = (TODAY - date(2026, 6, 15)).days
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE plans SET status = 'active', delinquency_state = 'default',"
                " days_past_due = :d, delinquency_since = '2026-09-13' WHERE id = :p"
            ),
            {"p": uuid.UUID(plan["id"]), "d": days},
        )
    await sweep_plans(app, [plan["id"]], TODAY)
    after = await _get(tenant, plan)
    assert (after["status"], after["delinquency"]["state"]) == ("defaulted", "default")
    status_events = [e for e in await _events(tenant, plan) if e[0] in _STATUS_EVENTS]
    assert status_events[-1] == ("plan.defaulted", {"days_past_due": days})


async def test_sweep_cures_a_defaulted_plan_left_current(
    app: FastAPI, engine: AsyncEngine, tenant: Tenant
) -> None:
    product = await create_product(tenant.client)
    plan = await create_plan(tenant.client, product, start_date="2026-11-23")
    await pay_by_webhook(tenant, plan["id"], "pay_deposit", 10000)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE plans SET status = 'defaulted' WHERE id = :p"),
            {"p": uuid.UUID(plan["id"])},
        )
    await sweep_plans(app, [plan["id"]], TODAY)
    after = await _get(tenant, plan)
    assert (after["status"], after["delinquency"]["state"]) == ("active", "current")
    status_events = [e for e in await _events(tenant, plan) if e[0] in _STATUS_EVENTS]
    assert status_events[-1] == ("plan.cured", {"days_past_due": 0})


async def test_acceptance_activating_a_plan_in_default_defaults_it(
    app: FastAPI, tenant: Tenant
) -> None:
    product = await create_product(
        tenant.client,
        require_agreement=True,
        deposit={"min_percent": "0", "max_percent": "50"},
        default_after_days=90,
    )
    plan = await create_plan(tenant.client, product, start_date=BACK_DATED)
    await sweep_plans(app, [plan["id"]], TODAY)
    swept = await _get(tenant, plan)
    assert (swept["status"], swept["delinquency"]["state"]) == ("pending", "default")
    signer = {"signer_name": "Jane Q. Customer", "ip_address": "203.0.113.7", "user_agent": "UA"}
    response = await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=signer)
    assert response.status_code == 201, response.text
    assert response.json()["plan_status"] == "defaulted"
    days = swept["delinquency"]["days_past_due"]
    status_events = [e for e in await _events(tenant, plan) if e[0] in _STATUS_EVENTS]
    assert status_events == [("plan.activated", {}), ("plan.defaulted", {"days_past_due": days})]

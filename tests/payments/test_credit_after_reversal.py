"""Credit held pays what is owed before anything is counted late: a reversal that reopens
installments spends the plan's credit on them, under the payments whose money it is (issue 12,
the third defect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import Tenant, create_plan, create_product, pay_by_webhook, reverse_by_webhook


async def _get(tenant: Tenant, plan: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    return body


async def _ledger(engine: AsyncEngine, plan: dict[str, Any]) -> dict[str, int]:
    """Each payment's allocations, net: what its money still pays (or holds)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.payment_id, coalesce(sum(a.amount), 0) FROM payments AS p"
                " LEFT JOIN allocations AS a ON a.payment_id = p.id"
                " WHERE p.plan_id = :p GROUP BY p.payment_id"
            ),
            {"p": plan["id"]},
        )
        return {payment_id: int(total) for payment_id, total in rows}


async def test_credit_pays_everything_a_reversal_reopens(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """A back-dated plan paid twice over: reversing the first payment leaves the second's money,
    held as credit, to pay everything; the plan stays paid off and never runs late."""
    product = await create_product(tenant.client)
    plan = await create_plan(tenant.client, product, start_date="2026-06-01")
    await pay_by_webhook(tenant, plan["id"], "pay_a", 40000)
    await pay_by_webhook(tenant, plan["id"], "pay_b", 50000)
    assert (await _get(tenant, plan))["credit_balance"] == 50000
    await reverse_by_webhook(tenant, plan["id"], "pay_a", 40000)
    after = await _get(tenant, plan)
    assert after["credit_balance"] == 10000
    assert [i["amount_due"] for i in after["installments"]] == [0, 0, 0, 0]
    assert after["status"] == "paid_off"
    assert after["delinquency"]["state"] == "current"
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert [(e["type"], e["data"]) for e in events][-2:] == [
        ("payment.reversed", {"payment_id": "pay_a", "amount": 40000, "reason": None}),
        ("plan.credit_applied", {"amount": 40000, "balance": 10000}),
    ]
    # The books: each payment's allocations sum to its amount (a reversed one's to nothing).
    assert await _ledger(engine, plan) == {"pay_a": 0, "pay_b": 50000}
    payments = (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()["data"]
    pay_b = next(p for p in payments if p["payment_id"] == "pay_b")
    assert pay_b["credit"] == 10000
    assert sum(a["amount"] for a in pay_b["allocations"]) == 50000


async def test_credit_pays_oldest_first_and_its_reversal_takes_back_what_it_paid(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    product = await create_product(tenant.client)
    plan = await create_plan(tenant.client, product, start_date="2026-11-23")
    await pay_by_webhook(tenant, plan["id"], "pay_a", 40000)
    await pay_by_webhook(tenant, plan["id"], "pay_b", 1500)
    await pay_by_webhook(tenant, plan["id"], "pay_c", 500)
    await reverse_by_webhook(tenant, plan["id"], "pay_a", 40000)
    after = await _get(tenant, plan)
    assert after["credit_balance"] == 0
    assert [i["amount_paid"] for i in after["installments"]] == [2000, 0, 0, 0]
    assert await _ledger(engine, plan) == {"pay_a": 0, "pay_b": 1500, "pay_c": 500}
    await reverse_by_webhook(tenant, plan["id"], "pay_b", 1500)
    after = await _get(tenant, plan)
    assert after["credit_balance"] == 0
    assert [i["amount_paid"] for i in after["installments"]] == [500, 0, 0, 0]
    assert await _ledger(engine, plan) == {"pay_a": 0, "pay_b": 0, "pay_c": 500}

"""Random payments and reversals on a back-dated plan: after each, the plan is as the sweep of
today would leave it (status and delinquency), credit is held only while nothing is owed, and
every payment's allocations sum to its amount (a reversed one's to nothing)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.db import connect
from app.delinquency.service import refresh
from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    create_tenant,
    pay_by_webhook,
    reverse_by_webhook,
)

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("pay"), st.one_of(st.sampled_from([10000, 40000, 45000]), st.integers(1, 50000))
        ),
        st.tuples(st.just("reverse"), st.integers(0, 10)),
    ),
    min_size=1,
    max_size=8,
)

_PLAN = text(
    "SELECT status, delinquency_state, days_past_due, credit_balance,"
    " (SELECT count(*) FROM installments AS i WHERE i.plan_id = p.id"
    "  AND i.amount + i.late_fee > i.amount_paid) AS owing,"
    " (SELECT coalesce(sum(amount), 0) FROM allocations AS a"
    "  WHERE a.plan_id = p.id AND a.installment_id IS NULL) AS credit_allocated"
    " FROM plans AS p WHERE id = :p"
)
_BOOKS = text(
    "SELECT p.status, p.amount, coalesce(sum(a.amount), 0) FROM payments AS p"
    " LEFT JOIN allocations AS a ON a.payment_id = p.id WHERE p.plan_id = :p"
    " GROUP BY p.id, p.status, p.amount"
)


async def _check(app: FastAPI, engine: AsyncEngine, plan_id: str) -> None:
    async with engine.connect() as conn:
        before = tuple((await conn.execute(_PLAN, {"p": plan_id})).one())
        books = (await conn.execute(_BOOKS, {"p": plan_id})).all()
    status, _, _, credit, owing, credit_allocated = before
    assert credit == credit_allocated
    assert credit == 0 or owing == 0, f"{credit} held while {owing} installments owe"
    for payment_status, amount, allocated in books:
        assert allocated == (amount if payment_status == "succeeded" else 0)
    async with connect(app.state.engine, transaction=False) as conn:
        tx = conn.transaction()
        await tx.start()
        moved = await refresh(conn, [uuid.UUID(plan_id)], clock.today())
        after = tuple(await conn.fetchrow(_PLAN.text.replace(":p", "$1"), uuid.UUID(plan_id)))
        await tx.rollback()
    assert moved == 0, f"a refresh of today still moved {status}"
    assert after == before


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_money_leaves_the_plan_settled(
    app: FastAPI, engine: AsyncEngine, ops: list[tuple[str, int]]
) -> None:
    tenant: Tenant = await create_tenant(app)
    async with tenant.client:
        product = await create_product(tenant.client, default_after_days=90)
        plan: dict[str, Any] = await create_plan(tenant.client, product, start_date="2026-07-01")
        paid: list[tuple[str, int]] = []
        for kind, value in ops:
            if kind == "pay":
                payment_id = f"pay_{uuid.uuid4().hex[:8]}"
                await pay_by_webhook(tenant, plan["id"], payment_id, value)
                paid.append((payment_id, value))
            elif not paid:
                continue
            else:
                payment_id, amount = paid[value % len(paid)]
                await reverse_by_webhook(tenant, plan["id"], payment_id, amount)
            await _check(app, engine, plan["id"])

"""The set-based SQL that brings plans to a date follows the engine's rules exactly."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import connect
from app.delinquency.service import refresh
from app.engine.delinquency import assess
from app.engine.installments import installment_status
from tests.factories import Tenant, create_plan, create_product

TOLERANCE = 50
GRACE = 5


@pytest.fixture
async def plan(tenant: Tenant) -> dict[str, Any]:
    product = await create_product(
        tenant.client,
        deposit={"min_percent": "0", "max_percent": "50"},
        late_fees={"grace_days": GRACE, "first_fee": {"amount": 100}},
        past_due_tolerance=TOLERANCE,
        default_after_days=60,
    )
    return await create_plan(tenant.client, product, start_date="2026-11-23", amount=30000)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    paid=st.lists(st.integers(0, 10000), min_size=3, max_size=3),
    late=st.lists(st.integers(0, 300), min_size=3, max_size=3),
    offset=st.integers(0, 120),
)
async def test_statuses_and_delinquency(
    app: FastAPI, plan: dict[str, Any], paid: list[int], late: list[int], offset: int
) -> None:
    as_of = date(2026, 11, 23) + timedelta(days=offset)
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    ids = [i["id"] for i in plan["installments"]]
    async with connect(app.state.engine) as conn:
        for installment_id, p, fee in zip(ids, paid, late, strict=True):
            await conn.execute(
                "UPDATE installments SET late_fee = $1, paid_late_fee = 0,"
                " paid_principal = least($2, principal) WHERE id = $3",
                fee,
                p,
                uuid.UUID(installment_id),
            )
        await refresh(conn, [uuid.UUID(plan["id"])], as_of)
    async with factory() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT due_date, amount + late_fee - amount_paid, amount_paid, status"
                    " FROM installments WHERE plan_id = :p ORDER BY sequence"
                ),
                {"p": plan["id"]},
            )
        ).all()
        state, days = (
            await session.execute(
                text("SELECT delinquency_state, days_past_due FROM plans WHERE id = :p"),
                {"p": plan["id"]},
            )
        ).one()
    for due, owed, amount_paid, status in rows:
        assert status == installment_status(due_date=due, as_of=as_of, owed=owed, paid=amount_paid)
    oldest = min(
        (due for due, owed, _, _ in rows if owed > TOLERANCE and due < as_of), default=None
    )
    expected = assess(oldest, as_of, GRACE, 60)
    assert (state, days) == (expected.state, expected.days_past_due)

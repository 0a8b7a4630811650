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
from app.engine.delinquency import DelinquencyState, assess, since
from app.engine.installments import installment_status
from app.engine.status import OPEN, PlanStatus, delinquency_status, values
from app.models.plan import OPEN_PLANS
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


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from(PlanStatus),
    old_state=st.sampled_from(DelinquencyState),
    paid=st.integers(0, 30000),
    offset=st.integers(0, 120),
)
async def test_plan_status_follows_delinquency(
    app: FastAPI,
    plan: dict[str, Any],
    status: PlanStatus,
    old_state: DelinquencyState,
    paid: int,
    offset: int,
) -> None:
    """Whatever status and delinquency a plan had (an older write may have left them apart),
    the refresh gives it the status the engine's rule does, with its event."""
    as_of = date(2026, 11, 23) + timedelta(days=offset)
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    plan_id = uuid.UUID(plan["id"])
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE installments SET late_fee = 0, paid_late_fee = 0, paid_interest = 0,"
                " paid_fee = 0, paid_principal = least(greatest(:p - (sequence - 1) * 10000, 0),"
                " principal) WHERE plan_id = :i"
            ),
            {"p": paid, "i": plan_id},
        )
        await session.execute(
            text("UPDATE plans SET status = :s, delinquency_state = :d WHERE id = :i"),
            {"s": status.value, "d": old_state.value, "i": plan_id},
        )
        await session.execute(text("DELETE FROM events WHERE plan_id = :i"), {"i": plan_id})
    async with connect(app.state.engine) as conn:
        await refresh(conn, [plan_id], as_of)
    async with factory() as session:
        new_status, state, days, since_ = (
            await session.execute(
                text(
                    "SELECT status, delinquency_state, days_past_due, delinquency_since"
                    " FROM plans WHERE id = :i"
                ),
                {"i": plan_id},
            )
        ).one()
        oldest = (
            await session.execute(
                text(
                    "SELECT min(due_date) FROM installments WHERE plan_id = :i"
                    " AND due_date < :d AND amount + late_fee - amount_paid > :t"
                ),
                {"i": plan_id, "d": as_of, "t": TOLERANCE},
            )
        ).scalar_one()
        written = (
            await session.execute(
                text(
                    "SELECT type, data FROM events WHERE plan_id = :i"
                    " AND type IN ('plan.defaulted', 'plan.cured') ORDER BY id"
                ),
                {"i": plan_id},
            )
        ).all()
    assessed = assess(oldest, as_of, GRACE, 60)
    assert (state, days) == (assessed.state, assessed.days_past_due)
    if state != old_state:
        assert since_ == since(assessed.state, oldest, as_of, GRACE, 60)
    expected = delinquency_status(status, assessed.state)
    assert new_status == expected
    if expected == status:
        assert written == []
    else:
        kind = "plan.defaulted" if expected == PlanStatus.DEFAULTED else "plan.cured"
        assert [tuple(row) for row in written] == [(kind, {"days_past_due": days})]


def test_open_plans_index_predicate_is_the_engines_set() -> None:
    """Written from the engine's set, the predicate of ix_plans_open_id stays the text
    migration 0005 created (tests/test_migrations.py checks the models against the migrations)."""
    assert values(OPEN) == ["pending", "active", "defaulted"]
    assert OPEN_PLANS == "status IN ('pending', 'active', 'defaulted')"

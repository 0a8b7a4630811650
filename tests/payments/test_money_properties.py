"""Random sequences of payments, failures, reversals and sweeps on one plan: money is conserved
(paid = allocated + credit), no installment is over-paid, nothing goes negative."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    create_tenant,
    deliver,
    event_body,
    sweep_plans,
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 25000)),
        st.tuples(st.just("fail"), st.integers(1, 25000)),
        st.tuples(st.just("reverse"), st.integers(0, 10)),
        st.tuples(st.just("sweep"), st.integers(1, 40)),
    ),
    min_size=1,
    max_size=8,
)

_LEDGER = text(
    """
    SELECT
      (SELECT coalesce(sum(amount), 0) FROM payments WHERE plan_id = :p AND status = 'succeeded'),
      (SELECT coalesce(sum(amount), 0) FROM allocations
        WHERE plan_id = :p AND installment_id IS NOT NULL),
      (SELECT credit_balance FROM plans WHERE id = :p),
      (SELECT coalesce(sum(amount_paid), 0) FROM installments WHERE plan_id = :p),
      (SELECT count(*) FROM installments WHERE plan_id = :p AND (
          paid_principal NOT BETWEEN 0 AND principal OR paid_interest NOT BETWEEN 0 AND interest
          OR paid_fee NOT BETWEEN 0 AND fee OR paid_late_fee NOT BETWEEN 0 AND late_fee)),
      (SELECT count(*) FROM (SELECT payment_id FROM allocations WHERE plan_id = :p
          GROUP BY payment_id HAVING sum(amount) < 0) AS negative)
    """
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_money_is_conserved(
    app: FastAPI, engine: AsyncEngine, ops: list[tuple[str, int]]
) -> None:
    tenant: Tenant = await create_tenant(app)
    async with tenant.client:
        product = await create_product(
            tenant.client,
            offers=[
                {
                    "installments": 3,
                    "frequency": "biweekly",
                    "interest_rate": "12",
                    "fee": {"amount": 500},
                }
            ],
            late_fees={
                "grace_days": 2,
                "first_fee": {"percent": "5"},
                "second_fee": {"after_days": 7, "amount": 700},
            },
        )
        plan: dict[str, Any] = await create_plan(tenant.client, product, start_date="2026-11-23")
        paid: list[str] = []
        day = date(2026, 11, 23)
        for kind, value in ops:
            if kind in ("pay", "fail"):
                payment_id = f"pay_{uuid.uuid4().hex[:8]}"
                type_ = "payment.succeeded" if kind == "pay" else "payment.failed"
                response = await deliver(tenant, event_body(type_, plan["id"], payment_id, value))
                assert response.status_code == 200, response.text
                if kind == "pay":
                    paid.append(payment_id)
            elif kind == "reverse" and paid:
                payment_id = paid[value % len(paid)]
                amount = next(
                    p["amount"]
                    for p in (await tenant.client.get(f"/v1/plans/{plan['id']}/payments")).json()[
                        "data"
                    ]
                    if p["payment_id"] == payment_id
                )
                response = await deliver(
                    tenant, event_body("payment.reversed", plan["id"], payment_id, amount)
                )
                assert response.status_code == 200, response.text
            elif kind == "sweep":
                day += timedelta(days=value)
                await sweep_plans(app, [plan["id"]], day)
        async with engine.connect() as conn:
            received, allocated, credit, on_installments, overpaid, negative = (
                await conn.execute(_LEDGER, {"p": plan["id"]})
            ).one()
        assert received == allocated + credit
        assert allocated == on_installments
        assert credit >= 0
        assert overpaid == 0
        assert negative == 0

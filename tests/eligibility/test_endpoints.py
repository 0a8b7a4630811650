from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eligibility.repository import customer_lock
from tests.factories import Tenant, create_plan, create_product, plan_body, wait_until_waiting


def _request(product: dict[str, Any], customer: str, **changes: Any) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "product_id": product["id"],
        "amount": 40000,
        "currency": "USD",
        **changes,
    }


async def _codes(tenant: Tenant, body: dict[str, Any]) -> list[str]:
    response = await tenant.client.post("/v1/eligibility", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["eligible"] == (result["reasons"] == [])
    return [r["code"] for r in result["reasons"]]


async def test_new_customer_is_eligible_with_offers(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    result = (await tenant.client.post("/v1/eligibility", json=_request(product, "cus_new"))).json()
    assert result["eligible"] is True
    assert [q["terms"]["installments"] for q in result["offers"]] == [3, 6]


async def test_amount_and_currency_rules(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    assert await _codes(tenant, _request(product, "c1", amount=100)) == ["amount_below_minimum"]
    assert await _codes(tenant, _request(product, "c1", amount=10**9)) == ["amount_above_maximum"]
    assert await _codes(tenant, _request(product, "c1", currency="EUR")) == ["currency_mismatch"]


async def test_active_plan_limit(tenant: Tenant) -> None:
    product = await create_product(
        tenant.client,
        eligibility={"max_active_plans_per_customer": 1, "max_new_plans_per_365_days": None},
    )
    await create_plan(tenant.client, product, customer_id="cus_one")
    assert await _codes(tenant, _request(product, "cus_one")) == ["too_many_active_plans"]
    assert await _codes(tenant, _request(product, "cus_other")) == []
    refused = await tenant.client.post(
        "/v1/plans",
        json=plan_body(product, customer_id="cus_one"),
        headers={"Idempotency-Key": "k2"},
    )
    assert refused.status_code == 422
    assert [r["code"] for r in refused.json()["reasons"]] == ["too_many_active_plans"]


async def test_new_plans_per_year_counts_by_start_date(tenant: Tenant, engine: AsyncEngine) -> None:
    product = await create_product(
        tenant.client,
        eligibility={
            "max_new_plans_per_365_days": 1,
            "max_active_plans_per_customer": None,
            # The imported plan is born as late as it is (unpaid since 2025): only the count is
            # under test here.
            "block_if_delinquent": False,
        },
    )
    old = await create_plan(tenant.client, product, customer_id="cus_y", start_date="2025-06-01")
    # A plan from over a year ago (imported) does not count; one from this year does.
    assert await _codes(tenant, _request(product, "cus_y")) == []
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE plans SET start_date = '2026-01-15' WHERE id = :id"), {"id": old["id"]}
        )
    assert await _codes(tenant, _request(product, "cus_y")) == ["too_many_new_plans"]


async def test_delinquent_customer_is_blocked(tenant: Tenant, engine: AsyncEngine) -> None:
    product = await create_product(
        tenant.client, eligibility={"max_active_plans_per_customer": None}
    )
    plan = await create_plan(tenant.client, product, customer_id="cus_late")
    for state, blocked in [("late", False), ("delinquent", True), ("default", True)]:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE plans SET delinquency_state = :s WHERE id = :id"),
                {"s": state, "id": plan["id"]},
            )
        codes = await _codes(tenant, _request(product, "cus_late"))
        assert (codes == ["customer_delinquent"]) is blocked, state
    lenient = await create_product(
        tenant.client,
        eligibility={"block_if_delinquent": False, "max_active_plans_per_customer": None},
    )
    assert await _codes(tenant, _request(lenient, "cus_late")) == []


@pytest.mark.parametrize(
    "rules",
    [
        {"max_active_plans_per_customer": 1, "max_new_plans_per_365_days": None},
        {"max_new_plans_per_365_days": 1, "max_active_plans_per_customer": None},
    ],
)
async def test_concurrent_checkouts_cannot_both_pass_the_limit(
    tenant: Tenant, engine: AsyncEngine, rules: dict[str, Any]
) -> None:
    product = await create_product(tenant.client, eligibility=rules)
    customer = "cus_race"
    # Hold the customer's lock, so that all five checkouts read the product and the history
    # before any of them may decide; only the counts read again under the lock can stop them.
    async with engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": customer_lock(tenant.id, customer)},
        )
        checkouts = [
            asyncio.create_task(
                tenant.client.post(
                    "/v1/plans",
                    json=plan_body(product, customer_id=customer),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            )
            for _ in range(5)
        ]
        await wait_until_waiting(holder, 5, locktype="advisory")
        await holder.rollback()
    responses = await asyncio.gather(*checkouts)
    assert sorted(r.status_code for r in responses) == [201, 422, 422, 422, 422]

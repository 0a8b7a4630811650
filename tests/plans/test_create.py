"""A plan written in one statement with its answer (idempotency.at_once), on the product as this
process last read it: each thing that statement checks, and the claim-first flow it falls back
to when a check fails. Each test makes a first plan of its product, so the product is known."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eligibility.repository import customer_lock
from app.plans import repository
from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    plan_body,
    twins_make_one_plan,
    wait_until_waiting,
)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each plan write went: "at once", "skipped" (the one statement wrote nothing), or
    "claim-first"."""
    seen: list[str] = []
    insert, insert_guarded = repository.insert, repository.insert_guarded

    async def claim_first(*args: Any, **kwargs: Any) -> None:
        await insert(*args, **kwargs)
        seen.append("claim-first")

    async def at_once(*args: Any, **kwargs: Any) -> bool:
        wrote = await insert_guarded(*args, **kwargs)
        seen.append("at once" if wrote else "skipped")
        return wrote

    monkeypatch.setattr(repository, "insert", claim_first)
    monkeypatch.setattr(repository, "insert_guarded", at_once)
    return seen


async def _known_product(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    """A product this process has made a plan on, so it knows its current version."""
    product = await create_product(tenant.client, **changes)
    await create_plan(tenant.client, product)
    return product


async def _post(tenant: Tenant, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return await tenant.client.post("/v1/plans", json=body, headers=headers)


async def test_a_known_product_makes_its_plan_at_once(tenant: Tenant, writes: list[str]) -> None:
    product = await _known_product(tenant)
    body = plan_body(product)
    first = await _post(tenant, body, "at-once-1")
    replay = await _post(tenant, body, "at-once-1")
    assert writes == ["claim-first", "at once", "skipped"]
    assert first.status_code == replay.status_code == 201
    assert first.content == replay.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    plan = first.json()
    assert (await tenant.client.get(f"/v1/plans/{plan['id']}")).json() == plan
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert [e["type"] for e in events] == ["plan.created"]
    agreement = await tenant.client.get(f"/v1/plans/{plan['id']}/agreement")
    assert agreement.status_code == 200
    assert body["order_id"] in agreement.text
    other = await _post(tenant, plan_body(product), "at-once-1")
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")


async def test_a_changed_product_is_read_again(tenant: Tenant, writes: list[str]) -> None:
    product = await _known_product(tenant)
    patched = await tenant.client.patch(
        f"/v1/products/{product['id']}",
        json={"offers": [*product["offers"], {"installments": 4, "frequency": "weekly"}]},
    )
    assert patched.status_code == 200, patched.text
    # The offer this process has not seen yet, then one it had: both under version 2.
    weekly = await _post(tenant, plan_body(product, installments=4, frequency="weekly"))
    assert weekly.status_code == 201, weekly.text
    biweekly = await _post(tenant, plan_body(product))
    assert biweekly.status_code == 201, biweekly.text
    assert weekly.json()["product_version"] == biweekly.json()["product_version"] == 2
    assert writes == ["claim-first", "claim-first", "at once"]
    # And a version changed after it was last read: the statement checks, writes nothing.
    await tenant.client.patch(f"/v1/products/{product['id']}", json={"name": "Pay in 3"})
    third = await _post(tenant, plan_body(product))
    assert third.json()["product_version"] == 3
    assert writes[3:] == ["skipped", "claim-first"]


async def test_a_renamed_merchant_is_read_again(
    tenant: Tenant, engine: AsyncEngine, writes: list[str]
) -> None:
    product = await _known_product(tenant)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE merchants SET name = 'Renamed Outdoor Co' WHERE id = :m"), {"m": tenant.id}
        )
    plan = (await _post(tenant, plan_body(product))).json()
    agreement = await tenant.client.get(f"/v1/plans/{plan['id']}/agreement")
    assert "Renamed Outdoor Co" in agreement.text
    assert writes == ["claim-first", "skipped", "claim-first"]


@pytest.mark.parametrize("block", [True, False])
async def test_a_customer_in_bad_standing_is_refused_when_the_product_says(
    tenant: Tenant, engine: AsyncEngine, writes: list[str], block: bool
) -> None:
    product = await _known_product(tenant, eligibility={"block_if_delinquent": block})
    earlier = await create_plan(tenant.client, product)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE plans SET delinquency_state = 'delinquent' WHERE id = :p"),
            {"p": earlier["id"]},
        )
    response = await _post(tenant, plan_body(product, customer_id=earlier["customer_id"]))
    if block:
        assert response.status_code == 422, response.text
        assert [r["code"] for r in response.json()["reasons"]] == ["customer_delinquent"]
        assert writes == ["claim-first", "at once", "skipped"]
    else:
        assert response.status_code == 201, response.text
        assert writes == ["claim-first", "at once", "at once"]


async def test_products_that_count_plans_take_the_claim_first_flow(
    tenant: Tenant, writes: list[str]
) -> None:
    product = await _known_product(tenant, eligibility={"max_new_plans_per_365_days": 5})
    await create_plan(tenant.client, product)
    assert writes == ["claim-first", "claim-first"]


async def test_the_statement_holds_the_customers_lock(
    tenant: Tenant, engine: AsyncEngine, writes: list[str]
) -> None:
    """A checkout of the same customer under a product that counts plans holds the lock; the
    one-statement write waits for it, so that checkout's count is not made stale under it."""
    product = await _known_product(tenant)
    body = plan_body(product)
    lock = customer_lock(tenant.id, body["customer_id"])
    async with engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock}
        )
        pending = asyncio.create_task(_post(tenant, body))
        await wait_until_waiting(holder, 1, locktype="advisory")
        assert not pending.done()
        await holder.rollback()
    response = await pending
    assert response.status_code == 201, response.text
    assert writes == ["claim-first", "at once"]


async def test_twins_at_once_make_one_plan(
    tenant: Tenant, engine: AsyncEngine, writes: list[str]
) -> None:
    """Five requests with one key, held until all wait (the first on a lock on agreements, which
    its statement writes; the others on its key): one writes, the others replay it."""
    product = await _known_product(tenant)
    await twins_make_one_plan(tenant.client, engine, plan_body(product))
    assert sorted(writes) == ["at once", "claim-first", *["skipped"] * 4]


async def test_an_active_plan_at_once_has_its_events_in_order(
    tenant: Tenant, writes: list[str]
) -> None:
    product = await _known_product(tenant, deposit={"min_percent": "0", "max_percent": "50"})
    plan = (await _post(tenant, plan_body(product))).json()
    assert plan["status"] == "active"
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert [e["type"] for e in events] == ["plan.created", "plan.activated"]
    assert writes == ["claim-first", "at once"]

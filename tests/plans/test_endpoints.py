from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import (
    Tenant,
    create_plan,
    create_product,
    plan_body,
    twins_make_one_plan,
)


@pytest.fixture
async def product(tenant: Tenant) -> dict[str, Any]:
    return await create_product(tenant.client)


async def test_create_plan_with_deposit_is_pending(tenant: Tenant, product: dict[str, Any]) -> None:
    plan = await create_plan(tenant.client, product, metadata={"channel": "web"})
    assert plan["status"] == "pending"
    assert plan["product_version"] == 1
    assert (plan["deposit_amount"], plan["amount_financed"], plan["apr"]) == (10000, 30000, "0.00")
    assert [
        (i["sequence"], i["kind"], i["due_date"], i["amount"], i["status"])
        for i in plan["installments"]
    ] == [
        (0, "deposit", "2026-12-01", 10000, "scheduled"),
        (1, "installment", "2026-12-15", 10000, "scheduled"),
        (2, "installment", "2026-12-29", 10000, "scheduled"),
        (3, "installment", "2027-01-12", 10000, "scheduled"),
    ]
    assert all(
        i["amount_paid"] == 0 and i["amount_due"] == i["amount"] for i in plan["installments"]
    )
    assert plan["delinquency"] == {
        "state": "current",
        "days_past_due": 0,
        "bucket": "current",
        "since": None,
    }
    assert plan["metadata"] == {"channel": "web"}
    assert plan["agreement"] == {"required": False, "accepted_at": None}
    fetched = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert fetched == plan


async def test_plan_without_deposit_or_agreement_is_active(tenant: Tenant) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    plan = await create_plan(tenant.client, product)
    assert plan["status"] == "active"
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert [e["type"] for e in events] == ["plan.created", "plan.activated"]


async def test_interest_bearing_offer(tenant: Tenant, product: dict[str, Any]) -> None:
    plan = await create_plan(
        tenant.client, product, installments=6, frequency="monthly", amount=100000
    )
    assert plan["terms"]["interest_rate"] == "9.99"
    assert plan["finance_charge"] > 0
    assert (
        sum(i["amount"] for i in plan["installments"] if i["kind"] == "installment")
        == plan["total_of_payments"]
    )
    # The answer is built from what was written, not read back: both must say the same.
    assert (await tenant.client.get(f"/v1/plans/{plan['id']}")).json() == plan


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"installments": 5}, "/installments", "no_such_offer"),
        ({"amount": 100}, "/amount", "amount_out_of_range"),
        ({"deposit": {"percent": "10"}}, "/deposit", "deposit_out_of_range"),
        ({"currency": "EUR"}, "/currency", "currency_mismatch"),
        ({"customer_id": ""}, "/customer_id", "string_too_short"),
        ({"customer_id": "has\nnewline"}, "/customer_id", "string_pattern_mismatch"),
        ({"metadata": {"k": 1}}, "/metadata/k", "string_type"),
    ],
)
async def test_bad_plan_requests(
    tenant: Tenant, product: dict[str, Any], change: dict[str, Any], pointer: str, code: str
) -> None:
    response = await tenant.client.post(
        "/v1/plans",
        json=plan_body(product, **change),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 422, response.text
    assert {"pointer": pointer, "code": code} in [
        {"pointer": e.get("pointer"), "code": e["code"]} for e in response.json()["errors"]
    ]


async def test_nul_character_is_422(tenant: Tenant, product: dict[str, Any]) -> None:
    response = await tenant.client.post(
        "/v1/plans",
        json=plan_body(product, metadata={"note": "a\u0000b"}),
        headers={"Idempotency-Key": "nul"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("unstorable-text")


async def test_idempotency_key_is_required(tenant: Tenant, product: dict[str, Any]) -> None:
    response = await tenant.client.post("/v1/plans", json=plan_body(product))
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_same_key_same_body_replays(tenant: Tenant, product: dict[str, Any]) -> None:
    body, key = plan_body(product), {"Idempotency-Key": "order-1-attempt"}
    first = await tenant.client.post("/v1/plans", json=body, headers=key)
    second = await tenant.client.post("/v1/plans", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    listed = (
        await tenant.client.get("/v1/plans", params={"customer_id": body["customer_id"]})
    ).json()
    assert len(listed["data"]) == 1


async def test_same_key_other_body_is_422(tenant: Tenant, product: dict[str, Any]) -> None:
    key = {"Idempotency-Key": "reused"}
    assert (
        await tenant.client.post("/v1/plans", json=plan_body(product), headers=key)
    ).status_code == 201
    response = await tenant.client.post("/v1/plans", json=plan_body(product), headers=key)
    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-reused")


async def test_keys_are_per_merchant(
    tenant: Tenant, other_tenant: Tenant, product: dict[str, Any]
) -> None:
    other_product = await create_product(other_tenant.client)
    key = {"Idempotency-Key": "shared-key"}
    a = await tenant.client.post("/v1/plans", json=plan_body(product), headers=key)
    b = await other_tenant.client.post("/v1/plans", json=plan_body(other_product), headers=key)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_failed_request_does_not_burn_the_key(
    tenant: Tenant, product: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "retry-after-fix"}
    bad = await tenant.client.post(
        "/v1/plans", json=plan_body(product, installments=5), headers=key
    )
    assert bad.status_code == 422
    good = await tenant.client.post("/v1/plans", json=plan_body(product), headers=key)
    assert good.status_code == 201


async def test_twenty_concurrent_identical_requests_make_one_plan(
    tenant: Tenant, product: dict[str, Any]
) -> None:
    body, key = plan_body(product), {"Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(tenant.client.post("/v1/plans", json=body, headers=key) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.text for r in responses}) == 1
    listed = (
        await tenant.client.get("/v1/plans", params={"customer_id": body["customer_id"]})
    ).json()
    assert len(listed["data"]) == 1


@pytest.mark.parametrize(
    "limits", [{"max_active_plans_per_customer": None}, {"max_active_plans_per_customer": 5}]
)
async def test_twins_held_together_make_one_plan(
    tenant: Tenant, engine: AsyncEngine, limits: dict[str, Any]
) -> None:
    """Five requests with one key at once, held until all wait (the first on a lock on
    agreements, which its plan's statement writes; the others on its claim of the key): one
    writes, the others replay it."""
    product = await create_product(tenant.client, eligibility=limits)
    await twins_make_one_plan(tenant.client, engine, plan_body(product))


async def test_retry_while_first_still_runs_is_409(
    tenant: Tenant, product: dict[str, Any], engine: AsyncEngine, app: Any
) -> None:
    key = "slow-one"
    settings = app.state.settings
    # Hold the key the way a slow first request would: claimed in a transaction not yet committed.
    async with engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response_status,"
                " response_body, expires_at) VALUES (:m, :k, :h, 0, '{}', now() + interval '1 day')"
            ),
            {"m": tenant.id, "k": key, "h": b"\0" * 32},
        )
        object.__setattr__(settings, "idempotency_wait_seconds", 0.2)
        try:
            response = await tenant.client.post(
                "/v1/plans", json=plan_body(product), headers={"Idempotency-Key": key}
            )
        finally:
            object.__setattr__(settings, "idempotency_wait_seconds", 5.0)
        await conn.rollback()
    assert response.status_code == 409, response.text
    assert response.headers["retry-after"] == "1"
    retried = await tenant.client.post(
        "/v1/plans", json=plan_body(product), headers={"Idempotency-Key": key}
    )
    assert retried.status_code == 201


async def test_list_filters_and_pagination(tenant: Tenant, product: dict[str, Any]) -> None:
    customer = "cus_paging"
    product = await create_product(
        tenant.client, eligibility={"max_active_plans_per_customer": None}
    )
    made = [await create_plan(tenant.client, product, customer_id=customer) for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"customer_id": customer, "limit": 2}
        if cursor:
            params["after"] = cursor
        page = (await tenant.client.get("/v1/plans", params=params)).json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in reversed(made)]
    by_order = (
        await tenant.client.get("/v1/plans", params={"order_id": made[2]["order_id"]})
    ).json()
    assert [p["id"] for p in by_order["data"]] == [made[2]["id"]]
    pending = (
        await tenant.client.get("/v1/plans", params={"customer_id": customer, "status": "active"})
    ).json()
    assert pending["data"] == []


async def test_bad_cursor_is_422(tenant: Tenant) -> None:
    response = await tenant.client.get("/v1/plans", params={"after": "!!not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "after"


async def test_unknown_product_is_404_and_does_not_burn_the_key(
    tenant: Tenant, product: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "product-typo"}
    missing = plan_body(product, product_id=str(uuid.uuid4()))
    response = await tenant.client.post("/v1/plans", json=missing, headers=key)
    assert response.status_code == 404, response.text
    assert response.json()["type"].endswith("not-found")
    good = await tenant.client.post("/v1/plans", json=plan_body(product), headers=key)
    assert good.status_code == 201, good.text

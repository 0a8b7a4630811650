"""Merchant B never reads or changes merchant A's objects: every route answers 404, as for
something that does not exist, and A's objects are unchanged afterwards."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories import Tenant, create_plan, create_product, plan_body

SIGNER = {"signer_name": "Mallory", "ip_address": "198.51.100.1", "user_agent": "curl"}
PAYMENT = {"payment_id": "p1", "amount": 100, "currency": "USD", "paid_at": "2026-11-23T12:00:00Z"}


@pytest.fixture
async def a_objects(tenant: Tenant) -> dict[str, Any]:
    product = await create_product(tenant.client, require_agreement=True)
    plan = await create_plan(tenant.client, product)
    return {"product": product, "plan": plan}


def _routes(objs: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    product, plan = objs["product"], objs["plan"]
    p, pl = product["id"], plan["id"]
    return [
        ("GET", f"/v1/products/{p}", None),
        ("GET", f"/v1/products/{p}?version=1", None),
        ("PATCH", f"/v1/products/{p}", {"name": "stolen"}),
        ("POST", "/v1/quotes", {"product_id": p, "amount": 40000}),
        (
            "POST",
            "/v1/eligibility",
            {"customer_id": "c", "product_id": p, "amount": 40000, "currency": "USD"},
        ),
        ("POST", "/v1/plans", plan_body(product)),
        ("GET", f"/v1/plans/{pl}", None),
        ("GET", f"/v1/plans/{pl}/events", None),
        ("GET", f"/v1/plans/{pl}/agreement", None),
        ("POST", f"/v1/plans/{pl}/acceptance", SIGNER),
        ("POST", f"/v1/plans/{pl}/payments", PAYMENT),
        ("GET", f"/v1/plans/{pl}/payments", None),
        ("GET", f"/v1/events?plan_id={pl}", None),
    ]


@pytest.mark.parametrize("index", range(13))
async def test_other_merchant_gets_404(
    tenant: Tenant, other_tenant: Tenant, a_objects: dict[str, Any], index: int
) -> None:
    method, path, body = _routes(a_objects)[index]
    before = (await tenant.client.get(f"/v1/plans/{a_objects['plan']['id']}")).json()
    product_before = (await tenant.client.get(f"/v1/products/{a_objects['product']['id']}")).json()
    response = await other_tenant.client.request(
        method, path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    if path.startswith("/v1/events"):
        # A feed filtered on another merchant's plan is simply empty for you.
        assert response.json()["data"] == []
    else:
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert (await tenant.client.get(f"/v1/plans/{a_objects['plan']['id']}")).json() == before
    assert (
        await tenant.client.get(f"/v1/products/{a_objects['product']['id']}")
    ).json() == product_before


async def test_lists_show_only_your_own(
    tenant: Tenant, other_tenant: Tenant, a_objects: dict[str, Any]
) -> None:
    assert (await other_tenant.client.get("/v1/plans")).json()["data"] == []
    assert (await other_tenant.client.get("/v1/products")).json()["data"] == []
    mine = (await tenant.client.get("/v1/plans")).json()["data"]
    assert [p["id"] for p in mine] == [a_objects["plan"]["id"]]
    filtered = await other_tenant.client.get(
        "/v1/plans", params={"order_id": a_objects["plan"]["order_id"]}
    )
    assert filtered.json()["data"] == []


async def test_unknown_ids_are_the_same_404(other_tenant: Tenant) -> None:
    missing = await other_tenant.client.get(f"/v1/plans/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No plan with that id"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/products"),
        ("POST", "/v1/products"),
        ("GET", "/v1/plans"),
        ("POST", "/v1/plans"),
        ("POST", "/v1/eligibility"),
        ("GET", f"/v1/plans/{uuid.uuid4()}"),
        ("GET", "/v1/events"),
        ("POST", f"/v1/plans/{uuid.uuid4()}/payments"),
    ],
)
async def test_every_route_needs_a_key(client: Any, method: str, path: str) -> None:
    response = await client.request(method, path, json={})
    assert response.status_code in (401, 422)
    if response.status_code == 422:
        pytest.fail(f"{method} {path} validated the body before checking the key")

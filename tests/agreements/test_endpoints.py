from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.factories import Tenant, create_plan, create_product

SIGNER = {
    "signer_name": "Jane Q. Customer",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
}


@pytest.fixture
async def signed_product(tenant: Tenant) -> dict[str, Any]:
    return await create_product(
        tenant.client, require_agreement=True, deposit={"min_percent": "0", "max_percent": "50"}
    )


async def test_agreement_document_and_hash(tenant: Tenant, signed_product: dict[str, Any]) -> None:
    plan = await create_plan(tenant.client, signed_product, deposit={"percent": "25"})
    response = await tenant.client.get(f"/v1/plans/{plan['id']}/agreement")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-document-sha256"] == hashlib.sha256(response.content).hexdigest()
    html = response.text
    for figure in ("0.00", "USD 300.00", "USD 400.00", "2026-12-01", "2027-01-12"):
        assert figure in html
    assert 'id="schedule"' in html
    again = await tenant.client.get(f"/v1/plans/{plan['id']}/agreement")
    assert again.content == response.content


async def test_acceptance_activates_a_plan_without_deposit(
    tenant: Tenant, signed_product: dict[str, Any]
) -> None:
    plan = await create_plan(tenant.client, signed_product)
    assert plan["status"] == "pending"
    assert plan["agreement"] == {"required": True, "accepted_at": None}
    digest = (await tenant.client.get(f"/v1/plans/{plan['id']}/agreement")).headers[
        "x-document-sha256"
    ]
    response = await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=SIGNER)
    assert response.status_code == 201, response.text
    accepted = response.json()
    assert accepted["document_sha256"] == digest
    assert accepted["plan_status"] == "active"
    assert accepted["ip_address"] == "203.0.113.7"
    assert accepted["accepted_at"] == "2026-11-23T12:00:00Z"
    fetched = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert fetched["status"] == "active"
    assert fetched["agreement"]["accepted_at"] is not None
    events = (await tenant.client.get(f"/v1/plans/{plan['id']}/events")).json()["data"]
    assert [e["type"] for e in events] == ["plan.created", "agreement.accepted", "plan.activated"]


async def test_acceptance_with_deposit_due_stays_pending(
    tenant: Tenant, signed_product: dict[str, Any]
) -> None:
    plan = await create_plan(tenant.client, signed_product, deposit={"percent": "25"})
    accepted = (await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=SIGNER)).json()
    assert accepted["plan_status"] == "pending"


async def test_second_acceptance_is_409(tenant: Tenant, signed_product: dict[str, Any]) -> None:
    plan = await create_plan(tenant.client, signed_product)
    assert (
        await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=SIGNER)
    ).status_code == 201
    again = await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=SIGNER)
    assert again.status_code == 409
    assert again.json()["type"].endswith("already-accepted")


async def test_acceptance_of_another_document_is_refused(
    tenant: Tenant, signed_product: dict[str, Any]
) -> None:
    plan = await create_plan(tenant.client, signed_product)
    response = await tenant.client.post(
        f"/v1/plans/{plan['id']}/acceptance", json={**SIGNER, "document_sha256": "0" * 64}
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("document-mismatch")


async def test_acceptance_validation(tenant: Tenant, signed_product: dict[str, Any]) -> None:
    plan = await create_plan(tenant.client, signed_product)
    response = await tenant.client.post(
        f"/v1/plans/{plan['id']}/acceptance", json={**SIGNER, "ip_address": "999.1.1.1"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/ip_address"


async def test_acceptance_is_idempotent_with_a_key(
    tenant: Tenant, signed_product: dict[str, Any]
) -> None:
    plan = await create_plan(tenant.client, signed_product)
    key = {"Idempotency-Key": "accept-1"}
    first = await tenant.client.post(f"/v1/plans/{plan['id']}/acceptance", json=SIGNER, headers=key)
    second = await tenant.client.post(
        f"/v1/plans/{plan['id']}/acceptance", json=SIGNER, headers=key
    )
    assert first.status_code == second.status_code == 201
    assert first.content == second.content

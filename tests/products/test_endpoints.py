from __future__ import annotations

from typing import Any

import pytest

from tests.factories import PAY_IN_4_PRODUCT, Tenant, create_plan, create_product


async def test_create_and_get(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    assert product["version"] == 1
    assert product["offers"][0] == {
        "installments": 3,
        "frequency": "biweekly",
        "interest_rate": "0",
        "interest_method": "amortized",
        "fee": None,
        "min_amount": None,
        "max_amount": None,
    }
    assert product["reminder_days"] == [-7, 0, 1, 7, 30, 60, 90]
    assert product["refund_strategy"] == "last_first"
    assert product["default_after_days"] == 90
    fetched = (await tenant.client.get(f"/v1/products/{product['id']}")).json()
    assert fetched == product


async def test_patch_makes_a_new_version_and_plans_keep_theirs(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    old_plan = await create_plan(tenant.client, product)
    response = await tenant.client.patch(
        f"/v1/products/{product['id']}",
        json={"deposit": {"min_percent": "30", "max_percent": "50"}},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["version"] == 2
    assert changed["deposit"]["min_percent"] == "30"
    assert changed["offers"] == product["offers"]
    new_plan = await create_plan(tenant.client, product)
    assert (old_plan["product_version"], old_plan["deposit_amount"]) == (1, 10000)
    assert (new_plan["product_version"], new_plan["deposit_amount"]) == (2, 12000)
    v1 = (await tenant.client.get(f"/v1/products/{product['id']}", params={"version": 1})).json()
    assert v1["deposit"]["min_percent"] == "25"
    assert (await tenant.client.get(f"/v1/plans/{old_plan['id']}")).json()["product_version"] == 1


async def test_patch_that_changes_nothing_keeps_the_version(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    same = await tenant.client.patch(
        f"/v1/products/{product['id']}", json={"name": product["name"]}
    )
    assert same.json()["version"] == 1


async def test_patch_is_validated_as_a_whole(tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    response = await tenant.client.patch(
        f"/v1/products/{product['id']}", json={"min_amount": 999999}
    )
    assert response.status_code == 422
    assert "min_amount must not exceed max_amount" in response.text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"offers": []}, "/offers"),
        ({"offers": [{"installments": 3, "frequency": "biweekly"}] * 2}, "two offers"),
        ({"deposit": {"min_percent": "60", "max_percent": "50"}}, "min_percent"),
        ({"deposit": {"min_percent": "0", "max_percent": "100"}}, "below 100"),
        ({"min_amount": 2}, "/offers/0"),
        ({"late_fees": {"first_fee": {"amount": 1, "percent": "2"}}}, "exactly one"),
        ({"reminder_days": [-100]}, "reminder_days"),
        ({"unknown": True}, "/unknown"),
    ],
)
async def test_bad_products(tenant: Tenant, change: dict[str, Any], fragment: str) -> None:
    response = await tenant.client.post("/v1/products", json={**PAY_IN_4_PRODUCT, **change})
    assert response.status_code == 422, response.text
    assert fragment in response.text


async def test_list_is_paginated(tenant: Tenant) -> None:
    made = [(await create_product(tenant.client, name=f"P{i}"))["id"] for i in range(3)]
    first = (await tenant.client.get("/v1/products", params={"limit": 2})).json()
    second = (
        await tenant.client.get("/v1/products", params={"limit": 2, "after": first["next_cursor"]})
    ).json()
    assert [p["id"] for p in first["data"] + second["data"]] == made
    assert second["next_cursor"] is None


async def test_quotes_for_a_product(tenant: Tenant) -> None:
    product = await create_product(
        tenant.client,
        offers=[
            {"installments": 3, "frequency": "biweekly"},
            {
                "installments": 12,
                "frequency": "monthly",
                "interest_rate": "15",
                "min_amount": 50000,
            },
        ],
    )
    request = {"product_id": product["id"], "amount": 40000, "start_date": "2026-12-01"}
    small = (await tenant.client.post("/v1/quotes", json=request)).json()
    assert [q["terms"]["installments"] for q in small["data"]] == [3]
    assert small["data"][0]["deposit_amount"] == 10000
    big = (await tenant.client.post("/v1/quotes", json={**request, "amount": 100000})).json()
    assert [q["terms"]["installments"] for q in big["data"]] == [3, 12]
    out_of_range = await tenant.client.post("/v1/quotes", json={**request, "amount": 900000})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["errors"][0]["pointer"] == "/amount"
    bad_deposit = await tenant.client.post(
        "/v1/quotes", json={**request, "deposit": {"percent": "5"}}
    )
    assert bad_deposit.json()["errors"][0]["code"] == "deposit_out_of_range"
    wrong_type = await tenant.client.post("/v1/quotes", json={**request, "amount": "many"})
    assert wrong_type.json()["errors"][0]["pointer"] == "/amount"

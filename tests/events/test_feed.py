from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import Tenant, create_plan, create_product, pay


async def _read_all(tenant: Tenant, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 3, **params, **({"after": cursor} if cursor else {})}
        page = (await tenant.client.get("/v1/events", params=query)).json()
        events += page["data"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return events, cursor


async def test_feed_pages_through_everything_in_order(tenant: Tenant) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    plans = [await create_plan(tenant.client, product, customer_id=f"c{i}") for i in range(3)]
    await pay(tenant, plans[0]["id"], 5000)
    events, cursor = await _read_all(tenant)
    assert [e["type"] for e in events] == [
        "plan.created",
        "plan.activated",
        "plan.created",
        "plan.activated",
        "plan.created",
        "plan.activated",
        "payment.applied",
    ]
    assert cursor is not None
    # Reading on from the end finds nothing until something happens, then just that.
    later = (await tenant.client.get("/v1/events", params={"after": cursor})).json()
    assert (later["data"], later["next_cursor"], later["has_more"]) == ([], cursor, False)
    await pay(tenant, plans[1]["id"], 100)
    later = (await tenant.client.get("/v1/events", params={"after": cursor})).json()
    assert [e["type"] for e in later["data"]] == ["payment.applied"]


async def test_feed_filters(tenant: Tenant) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    a = await create_plan(tenant.client, product, customer_id="ca")
    await create_plan(tenant.client, product, customer_id="cb")
    by_type, _ = await _read_all(tenant, type="plan.created")
    assert len(by_type) == 2
    by_plan, _ = await _read_all(tenant, plan_id=a["id"])
    assert {e["plan_id"] for e in by_plan} == {a["id"]}


async def test_feed_never_skips_a_slow_transaction(tenant: Tenant, engine: AsyncEngine) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    await create_plan(tenant.client, product)
    _, cursor = await _read_all(tenant)
    async with engine.connect() as slow:
        # A transaction that writes an event and stays open while a later one commits.
        await slow.execute(
            text("INSERT INTO events (merchant_id, type, data) VALUES (:m, 'test.slow', '{}')"),
            {"m": tenant.id},
        )
        await create_plan(tenant.client, product, customer_id="fast")
        hidden = (await tenant.client.get("/v1/events", params={"after": cursor})).json()
        assert hidden["data"] == []
        await slow.commit()
    shown = (await tenant.client.get("/v1/events", params={"after": cursor})).json()
    assert [e["type"] for e in shown["data"]] == ["test.slow", "plan.created", "plan.activated"]


async def test_other_merchants_events_are_invisible(tenant: Tenant, other_tenant: Tenant) -> None:
    product = await create_product(tenant.client)
    await create_plan(tenant.client, product)
    events, _ = await _read_all(other_tenant)
    assert events == []
    await asyncio.sleep(0)

"""Events reach a real receiver on loopback, signed (checked with `standardwebhooks`), in order
per plan, retried on the ladder until they arrive, and every attempt is recorded."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import app
from app.outbound import retries
from app.outbound.catalog import EVENT_TYPES
from tests.factories import Tenant, create_plan, create_product
from tests.outbound.conftest import (
    Clock,
    Deliver,
    Register,
    retry_until_settled,
    run_next_retry,
)
from tests.outbound.receiver import Receiver


async def pay(tenant: Tenant, plan: dict[str, Any], amount: int, payment_id: str) -> None:
    response = await tenant.client.post(
        f"/v1/plans/{plan['id']}/payments",
        json={
            "payment_id": payment_id,
            "amount": amount,
            "currency": "USD",
            "paid_at": "2026-11-23T12:00:00Z",
        },
        headers={"Idempotency-Key": payment_id},
    )
    assert response.status_code == 201, response.text


async def attempts(tenant: Tenant, endpoint_id: str, **params: str) -> list[dict[str, Any]]:
    response = await tenant.client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params={"limit": "100", **params}
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def test_every_event_arrives_signed_and_in_order_per_plan(
    tenant: Tenant, register: Register, receiver: Receiver, run_senders: Deliver
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    receiver.secrets.append(endpoint["secret"])
    product = await create_product(tenant.client)
    plans = [await create_plan(tenant.client, product) for _ in range(3)]
    for n, plan in enumerate(plans):
        await pay(tenant, plan, plan["installments"][0]["amount"], f"pay_{plan['id']}_{n}")

    report = await run_senders()

    feed = (await tenant.client.get("/v1/events", params={"limit": 100})).json()["data"]
    assert len(receiver.received) == len(feed) == report.delivered
    assert all(r.verified_by == (endpoint["secret"],) for r in receiver.received)
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"evt_{e['id']}" for e in feed}
    for plan in plans:
        mine = [p for p in receiver.payloads() if p["plan_id"] == plan["id"]]
        assert [p["sequence"] for p in mine] == list(range(1, len(mine) + 1))
        assert [p["id"] for p in mine] == sorted(p["id"] for p in mine)
        assert [p["type"] for p in mine][:2] == ["plan.created", "payment.applied"]
    sent = receiver.payloads()[0]
    assert set(sent) == {
        "id",
        "type",
        "created_at",
        "plan_id",
        "sequence",
        "effective_date",
        "data",
    }
    by_id = {e["id"]: e for e in feed}
    assert sent["data"] == by_id[sent["id"]]["data"]
    recorded = await attempts(tenant, endpoint["id"], outcome="delivered")
    assert len(recorded) == len(feed)
    assert {a["status_code"] for a in recorded} == {200}
    assert {a["response_body"] for a in recorded} == {"ok"}
    assert await attempts(tenant, endpoint["id"], outcome="failed") == []


async def test_only_the_types_subscribed_to(
    tenant: Tenant, register: Register, receiver: Receiver, run_senders: Deliver
) -> None:
    endpoint = await register(tenant.client, receiver.url, ["payment.applied"])
    receiver.secrets.append(endpoint["secret"])
    plan = await create_plan(tenant.client, await create_product(tenant.client))
    await pay(tenant, plan, 1000, "pay_only")
    await run_senders()
    assert [p["type"] for p in receiver.payloads()] == ["payment.applied"]


async def test_a_later_event_of_a_plan_waits_for_the_earlier_ones_retries(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    run_senders: Deliver,
    engine: AsyncEngine,
    moving_clock: Clock,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    product = await create_product(tenant.client)
    stuck, free = [await create_plan(tenant.client, product) for _ in range(2)]
    failures = {"left": 3}

    def fail(payload: dict[str, Any]) -> bool:
        if payload["plan_id"] == stuck["id"] and failures["left"]:
            failures["left"] -= 1
            return True
        return False

    receiver.fail = fail
    await pay(tenant, stuck, 1000, "pay_stuck")
    await pay(tenant, free, 1000, "pay_free")

    await run_senders()
    # The other plan is not held up; the stuck plan's payment waits for its plan.created.
    assert [p["type"] for p in receiver.delivered() if p["plan_id"] == free["id"]] == [
        "plan.created",
        "payment.applied",
    ]
    assert [p["type"] for p in receiver.payloads() if p["plan_id"] == stuck["id"]] == [
        "plan.created"
    ]
    runs = await retry_until_settled(engine, moving_clock, run_senders, endpoint["id"])
    assert runs == 4  # three failures on the ladder, then both arrive
    types = [p["type"] for p in receiver.payloads() if p["plan_id"] == stuck["id"]]
    assert types == ["plan.created"] * 4 + ["payment.applied"]
    failed = await attempts(tenant, endpoint["id"], outcome="failed")
    assert len(failed) == 3
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(10):
        page = (await tenant.client.get(path, params=params)).json()
        paged += page["data"]
        if page["next_cursor"] is None:
            break
        params["after"] = page["next_cursor"]
    assert paged == await attempts(tenant, endpoint["id"])  # newest first, 7 in all
    assert len(paged) == 7
    assert {a["status_code"] for a in failed} == {500}
    assert {len(a["response_body"]) for a in failed} == {1024}  # the first KiB of 2,000


async def test_an_endpoint_that_goes_down_and_comes_back_gets_everything(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    run_senders: Deliver,
    engine: AsyncEngine,
    moving_clock: Clock,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    receiver.stop()
    plan = await create_plan(tenant.client, await create_product(tenant.client))
    await run_senders()
    down = await attempts(tenant, endpoint["id"])
    assert len(down) == 1
    assert down[0]["status_code"] is None
    assert "ConnectError" in down[0]["error"]
    receiver.start()  # the same port
    await run_next_retry(engine, moving_clock, run_senders, endpoint["id"])
    assert [p["plan_id"] for p in receiver.delivered()] == [plan["id"]]


async def test_an_answer_slower_than_the_timeout_is_a_failed_attempt(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    run_senders: Deliver,
    engine: AsyncEngine,
    moving_clock: Clock,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    receiver.hold = threading.Event()
    await create_plan(tenant.client, await create_product(tenant.client))
    try:
        await run_senders(outbound_timeout_seconds=0.2)
    finally:
        receiver.hold.set()
    [slow] = await attempts(tenant, endpoint["id"])
    assert slow["outcome"] == "failed"
    assert slow["error"] == "timed out after 0.2 s"
    await run_next_retry(engine, moving_clock, run_senders, endpoint["id"])
    assert [a["outcome"] for a in await attempts(tenant, endpoint["id"])] == ["delivered", "failed"]


# The provider's event we receive (app.provider_events), not one we send.
INBOUND_ONLY = {"payment.succeeded"}
TYPE_LITERAL = re.compile(
    r"""['"]((?:plan|payment|installment|late_fee|agreement|endpoint)\.[a-z_]+)['"]"""
)


async def test_every_event_type_written_is_in_the_catalog(engine: AsyncEngine) -> None:
    app_dir = Path(app.__file__).parent
    in_code = {
        found for path in app_dir.rglob("*.py") for found in TYPE_LITERAL.findall(path.read_text())
    }
    assert "late_fee.assessed" in in_code  # written in SQL: the pattern sees those too
    assert in_code - INBOUND_ONLY == set(EVENT_TYPES)
    async with engine.connect() as conn:
        written = set((await conn.execute(text("SELECT DISTINCT type FROM events"))).scalars())
    # tests/events/test_feed.py writes a `test.slow` event straight into the table.
    assert {t for t in written if not t.startswith("test.")} <= set(EVENT_TYPES)


async def test_the_window_closes_and_the_endpoint_is_disabled(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    run_senders: Deliver,
    engine: AsyncEngine,
    moving_clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retries._random, "uniform", lambda low, high: 0.0)  # no jitter
    failing = await register(tenant.client, receiver.url + "/failing")
    watcher = await register(tenant.client, receiver.url + "/watcher", ["endpoint.disabled"])
    receiver.secrets.append(watcher["secret"])
    receiver.fail = lambda payload: payload["type"] != "endpoint.disabled"
    plan = await create_plan(tenant.client, await create_product(tenant.client))
    start = moving_clock.now

    await retry_until_settled(engine, moving_clock, run_senders, failing["id"])

    assert moving_clock.now == start + timedelta(days=3)  # the last try closes the window
    tries = await attempts(tenant, failing["id"])
    assert {a["outcome"] for a in tries} == {"failed"}
    assert len(tries) == 12  # at once, the 7 rungs, every 12 h, and at 72 h
    shown = (await tenant.client.get(f"/v1/webhook-endpoints/{failing['id']}")).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "every attempt failed for 3 days"
    await run_senders()
    [disabled] = receiver.payloads("endpoint.disabled")
    assert disabled["data"]["endpoint_id"] == failing["id"]
    assert disabled["plan_id"] is None
    assert disabled["sequence"] is None

    # Back up: enabled again, and what failed since the start is sent again.
    receiver.fail = lambda _: False
    response = await tenant.client.patch(
        f"/v1/webhook-endpoints/{failing['id']}", json={"enabled": True}
    )
    assert response.json()["enabled"] is True
    response = await tenant.client.post(
        f"/v1/webhook-endpoints/{failing['id']}/recover", json={"since": start.isoformat()}
    )
    assert response.status_code == 202
    assert response.json() == {"deliveries": 1}
    await run_senders()
    assert [p["plan_id"] for p in receiver.delivered() if p["type"] == "plan.created"] == [
        plan["id"]
    ]

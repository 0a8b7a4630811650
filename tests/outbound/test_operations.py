"""Rotation, test pings, redelivery, the address guard at send time, many senders at once, a
sender that dies holding a lease, and `bnpl deliver`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import connect
from app.outbound import service
from app.outbound.delivery import LEASE_MARGIN, deliver
from app.outbound.sender import new_client, send
from tests.factories import Tenant, create_plan, create_product, run_bnpl
from tests.outbound.conftest import Clock, Deliver, Register
from tests.outbound.receiver import Receiver
from tests.outbound.test_delivery import attempts


async def test_after_a_rotation_both_secrets_sign_for_24_hours(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    run_senders: Deliver,
    moving_clock: Clock,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    old = endpoint["secret"]
    rotated = await tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["secret_version"] == 2
    receiver.secrets[:] = [old, new]
    product = await create_product(tenant.client)
    await create_plan(tenant.client, product)
    await run_senders()
    [overlap] = receiver.received
    assert overlap.headers["webhook-signature"].count("v1,") == 2
    assert overlap.verified_by == (old, new)

    moving_clock.advance(timedelta(hours=24, seconds=1))
    await create_plan(tenant.client, product)
    await run_senders()
    after = receiver.received[1]
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert after.verified_by == (new,)


async def test_a_test_ping_and_a_redelivery(
    tenant: Tenant, register: Register, receiver: Receiver, run_senders: Deliver
) -> None:
    endpoint = await register(tenant.client, receiver.url, ["plan.created"])
    receiver.secrets.append(endpoint["secret"])
    ping = await tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert ping.status_code == 202, ping.text
    await run_senders()
    [pinged] = receiver.payloads()
    assert pinged["type"] == "endpoint.test"
    assert pinged["id"] == ping.json()["event_id"]
    assert pinged["data"] == {"endpoint_id": endpoint["id"]}

    plan = await create_plan(tenant.client, await create_product(tenant.client))
    await run_senders()
    event_id = receiver.payloads("plan.created")[0]["id"]
    again = await tenant.client.post(f"/v1/events/{event_id}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json() == {"deliveries": 1}
    await run_senders()
    assert [p["plan_id"] for p in receiver.payloads("plan.created")] == [plan["id"]] * 2
    ids = [r.headers["webhook-id"] for r in receiver.received[1:]]
    assert ids == [f"evt_{event_id}"] * 2  # the same message: a receiver can deduplicate


async def test_a_private_address_is_refused_where_it_resolves_at_send_time(
    tenant: Tenant, register: Register, receiver: Receiver, run_senders: Deliver
) -> None:
    # Registered while allowed (a hostname, not checked until sent), sent while refused.
    endpoint = await register(tenant.client, f"http://localhost:{receiver.port}/hooks")
    await create_plan(tenant.client, await create_product(tenant.client))
    await run_senders(outbound_allow_private_addresses=False)
    assert receiver.received == []
    [refused] = await attempts(tenant, endpoint["id"])
    assert refused["outcome"] == "failed"
    assert refused["error"].startswith("refused: ")
    assert "is not a public address" in refused["error"]
    assert refused["status_code"] is None


async def test_two_senders_never_post_one_delivery_at_once(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    engine: AsyncEngine,
    settings: Settings,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    receiver.secrets.append(endpoint["secret"])
    product = await create_product(tenant.client)
    plans = [await create_plan(tenant.client, product) for _ in range(12)]
    for plan in plans:
        response = await tenant.client.post(
            f"/v1/plans/{plan['id']}/payments",
            json={
                "payment_id": f"p_{plan['id']}",
                "amount": 500,
                "currency": "USD",
                "paid_at": "2026-11-23T12:00:00Z",
            },
            headers={"Idempotency-Key": f"p_{plan['id']}"},
        )
        assert response.status_code == 201
    small = settings.model_copy(update={"outbound_concurrency": 3})
    reports = await asyncio.gather(
        *(deliver(engine, small, asyncio.Event(), once=True) for _ in range(2))
    )
    assert receiver.overlapping == []
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 24
    assert sum(r.delivered for r in reports) == 24
    for plan in plans:
        types = [p["type"] for p in receiver.payloads() if p["plan_id"] == plan["id"]]
        assert types == ["plan.created", "payment.applied"]


async def test_a_sender_that_dies_holding_a_lease_is_taken_over_after_it(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    engine: AsyncEngine,
    run_senders: Deliver,
    moving_clock: Clock,
    settings: Settings,
) -> None:
    await register(tenant.client, receiver.url)
    await create_plan(tenant.client, await create_product(tenant.client))
    lease = timedelta(seconds=settings.outbound_timeout_seconds) + LEASE_MARGIN
    # A sender claims and dies before posting (or mid-post): its lease stands.
    async with connect(engine) as raw:
        await service.dispatch(raw, 100)
        dead = await service.claim(raw, 100, lease)
    assert [c.attempts for c in dead] == [1]
    await run_senders()
    assert receiver.received == []
    # Queued again while held: left to its holder, or two senders could post it at once.
    again = await tenant.client.post(f"/v1/events/{dead[0].event_id}/redeliver")
    assert again.json() == {"deliveries": 0}
    await run_senders()
    assert receiver.received == []
    moving_clock.advance(lease)
    await run_senders()
    assert len(receiver.delivered()) == 1


@pytest.mark.parametrize("command", ["deliver", "worker"])
async def test_bnpl_deliver_and_bnpl_worker_deliver(
    tenant: Tenant, register: Register, receiver: Receiver, database_url: str, command: str
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    receiver.secrets.append(endpoint["secret"])
    plan = await create_plan(tenant.client, await create_product(tenant.client))
    done = await asyncio.to_thread(
        run_bnpl,
        database_url,
        command,
        "--once",
        BNPL_OUTBOUND_ALLOW_HTTP="true",
        BNPL_OUTBOUND_ALLOW_PRIVATE_ADDRESSES="true",
    )
    assert done.returncode == 0, done.stderr
    assert "bnpl.worker delivery done: " in done.stderr
    assert "HTTP Request" not in done.stderr  # no URL in the logs: it may carry a token
    # The worker's sweep (at today's date) may add the plan's reminders: they come after.
    assert receiver.payloads()[0]["type"] == "plan.created"
    assert {p["plan_id"] for p in receiver.payloads()} == {plan["id"]}
    assert {r.verified_by for r in receiver.received} == {(endpoint["secret"],)}


async def test_an_attempt_on_an_endpoint_deleted_meanwhile_is_dropped(
    tenant: Tenant, register: Register, receiver: Receiver, engine: AsyncEngine, settings: Settings
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    await create_plan(tenant.client, await create_product(tenant.client))
    async with connect(engine) as raw:
        await service.dispatch(raw, 100)
        [claimed] = await service.claim(raw, 100, timedelta(minutes=1))
    async with new_client(settings) as client:
        sent = await send(client, claimed, settings, settings.server_key())
    assert sent.delivered
    deleted = await tenant.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert deleted.status_code == 204
    async with connect(engine) as raw:
        assert await service.record(raw, [sent]) == 0

"""A plan's events are ordered by id (they are written under the plan's lock), but the cursor
walks (txid, id): a transaction that took its id before waiting for the plan's lock commits an
event with a higher id and a lower txid. The later event must still wait for the earlier one."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import connect
from app.outbound import service
from tests.factories import Tenant
from tests.outbound.conftest import Deliver, Register
from tests.outbound.receiver import Receiver

_EVENT = text(
    "INSERT INTO events (merchant_id, plan_id, type, data, txid)"
    " VALUES (:merchant, :plan, :type, '{}', :txid) RETURNING id"
)


async def test_an_event_dispatched_before_an_earlier_one_of_its_plan_waits_for_it(
    tenant: Tenant,
    register: Register,
    receiver: Receiver,
    engine: AsyncEngine,
    run_senders: Deliver,
) -> None:
    endpoint = await register(tenant.client, receiver.url)
    plan = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_endpoints SET cursor_txid = 0, cursor_event_id = 0 WHERE id = :id"
            ),
            {"id": endpoint["id"]},
        )
        params = {"merchant": tenant.id, "plan": plan}
        first = await conn.scalar(_EVENT, {**params, "type": "plan.created", "txid": 20})
        later = await conn.scalar(_EVENT, {**params, "type": "payment.applied", "txid": 10})
    assert first is not None
    assert later is not None
    assert first < later

    async with connect(engine) as raw:
        await service.dispatch(raw, 1)  # a page of one: the later event only
        claimed = await service.claim(raw, 100, timedelta(minutes=1))
    assert [c.event_id for c in claimed if c.endpoint_id == uuid.UUID(endpoint["id"])] == []

    await run_senders()
    sent = [(p["id"], p["sequence"]) for p in receiver.payloads()]
    assert sent == [(first, 1), (later, 2)]

"""Fixtures of the delivery tests: a receiver on loopback, a clock the test moves, endpoints
registered through the API (and deleted after the test), and one sender run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.config import Settings
from app.outbound.delivery import Report, deliver
from tests.conftest import TODAY
from tests.outbound.receiver import Receiver


@dataclass
class Clock:
    now: datetime

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def moving_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moving = Clock(TODAY)
    monkeypatch.setattr(clock, "now", lambda: moving.now)
    return moving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def register(engine: AsyncEngine) -> AsyncIterator[Register]:
    """POST /v1/webhook-endpoints for a tenant; each endpoint is deleted after the test, so
    no other test's sender finds it."""
    made: list[str] = []

    async def register(
        client: httpx.AsyncClient, url: str, event_types: list[str] | None = None
    ) -> dict[str, Any]:
        response = await client.post(
            "/v1/webhook-endpoints",
            json={"url": url, "event_types": event_types or ["*"]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        endpoint: dict[str, Any] = response.json()
        made.append(endpoint["id"])
        return endpoint

    yield register
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM webhook_endpoints WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": made},
        )


Deliver = Callable[..., Awaitable[Report]]


@pytest.fixture
def run_senders(engine: AsyncEngine, settings: Settings) -> Deliver:
    """One `bnpl deliver --once`, in this process: until nothing is due at the clock's now."""

    async def run(**changes: Any) -> Report:
        return await deliver(
            engine, settings.model_copy(update=changes), asyncio.Event(), once=True
        )

    return run


async def next_attempt(engine: AsyncEngine, endpoint_id: str) -> datetime | None:
    """When the endpoint's next retry is due (of the pending deliveries tried before: those
    never tried wait for an earlier event of their plan, or are due now)."""
    async with engine.connect() as conn:
        due: datetime | None = (
            await conn.execute(
                text(
                    "SELECT min(next_attempt_at) FROM webhook_deliveries"
                    " WHERE endpoint_id = :id AND status = 'pending' AND attempts > 0"
                ),
                {"id": endpoint_id},
            )
        ).scalar_one()
    return due


async def run_next_retry(
    engine: AsyncEngine, moving: Clock, run: Deliver, endpoint_id: str
) -> None:
    """Move the clock to the endpoint's next retry and run the senders."""
    due = await next_attempt(engine, endpoint_id)
    assert due is not None
    moving.set(due)
    await run()


async def retry_until_settled(
    engine: AsyncEngine, moving: Clock, run: Deliver, endpoint_id: str, rounds: int = 30
) -> int:
    """Run the senders, moving the clock to each next retry, until nothing is pending; the
    number of runs."""
    for n in range(1, rounds + 1):
        await run()
        due = await next_attempt(engine, endpoint_id)
        if due is None:
            return n
        moving.set(max(due, moving.now))
    pytest.fail(f"still pending after {rounds} runs")

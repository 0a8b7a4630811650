"""Webhook endpoints as the merchant manages them, and what an attempt's outcome changes. The
caller owns the transaction (a request, or the senders' loop in app.outbound.delivery)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from app import clock
from app.config import Settings
from app.errors import Problem, field_problem, not_found, validation_problem
from app.idempotency.service import Answered
from app.models import uuid7
from app.outbound import repository
from app.outbound.retries import RETRY_WINDOW, next_attempt_at
from app.outbound.schemas import (
    AttemptList,
    AttemptOut,
    EndpointCreate,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    Outcome,
    Requeued,
    SecretRotated,
    TestSent,
)
from app.outbound.sender import Claimed, Refused, Sent, check_url
from app.pagination import PageParams, int_cursor, next_cursor, uuid_cursor
from app.security import endpoint_secret

# After a rotation the previous secret signs beside the new one this long.
ROTATION_OVERLAP = timedelta(hours=24)
DISABLED_REASON = "every attempt failed for 3 days"


def _endpoint(row: asyncpg.Record | None) -> EndpointOut:
    if row is None:
        raise not_found("webhook endpoint")
    return EndpointOut.model_validate(dict(row))


def _checked_url(url: str, settings: Settings) -> str:
    try:
        check_url(url, settings)
    except Refused as exc:
        raise validation_problem([field_problem("url", str(exc), "url_not_allowed")]) from exc
    return url


async def create_endpoint(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, body: EndpointCreate, settings: Settings
) -> EndpointOut:
    url = _checked_url(body.url, settings)
    row = await repository.insert_endpoint(
        conn, uuid7(), merchant_id, url, body.description, body.event_types, clock.now()
    )
    return _endpoint(row)


async def get_endpoint(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> EndpointOut:
    return _endpoint(await repository.get_endpoint(conn, merchant_id, endpoint_id))


async def list_endpoints(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, page: PageParams
) -> EndpointList:
    rows = await repository.list_endpoints(
        conn, merchant_id, uuid_cursor(page.after), page.limit + 1
    )
    data = [_endpoint(row) for row in rows[: page.limit]]
    return EndpointList(
        data=data, next_cursor=next_cursor(rows, page.limit, data[-1].id if data else None)
    )


async def update_endpoint(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    body: EndpointUpdate,
    settings: Settings,
) -> EndpointOut:
    now = clock.now()
    before = await get_endpoint(conn, merchant_id, endpoint_id)
    row = await repository.update_endpoint(
        conn,
        merchant_id,
        endpoint_id,
        url=None if body.url is None else _checked_url(body.url, settings),
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
        now=now,
    )
    endpoint = _endpoint(row)
    if body.enabled and not before.enabled:
        # What waited while it was disabled gets a full retry window again.
        await repository.restart_pending(conn, merchant_id, endpoint_id, now, now + RETRY_WINDOW)
    return endpoint


async def delete_endpoint(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    if not await repository.delete_endpoint(conn, merchant_id, endpoint_id):
        raise not_found("webhook endpoint")


async def rotate_secret(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> SecretRotated:
    """The new version; the secret itself is added to the response only (`with_secret`)."""
    now = clock.now()
    row = await repository.rotate_secret(
        conn, merchant_id, endpoint_id, now + ROTATION_OVERLAP, now
    )
    if row is None:
        raise not_found("webhook endpoint")
    return SecretRotated(
        id=row["id"],
        secret_version=row["secret_version"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        secret="",
    )


def with_secret(answered: Answered, server_key: bytes) -> Answered:
    """The answer with the endpoint's secret (of the version it names) put in. An answer
    stored under an Idempotency-Key is kept without it, so no secret is ever at rest."""
    if not 200 <= answered.status_code < 300:
        return answered
    body = json.loads(answered.body)
    body["secret"] = endpoint_secret(server_key, uuid.UUID(body["id"]), int(body["secret_version"]))
    shown = json.dumps(body, separators=(",", ":")).encode()
    return Answered(answered.status_code, shown, answered.replayed)


async def list_attempts(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    outcome: Outcome | None,
    page: PageParams,
) -> AttemptList:
    await get_endpoint(conn, merchant_id, endpoint_id)
    rows = await repository.list_attempts(
        conn,
        merchant_id,
        endpoint_id,
        delivered=None if outcome is None else outcome is Outcome.DELIVERED,
        before=int_cursor(page.after),
        limit=page.limit + 1,
    )
    data = [AttemptOut.model_validate(dict(row)) for row in rows[: page.limit]]
    return AttemptList(
        data=data, next_cursor=next_cursor(rows, page.limit, data[-1].id if data else None)
    )


async def redeliver(conn: asyncpg.Connection, merchant_id: uuid.UUID, event_id: int) -> Requeued:
    now = clock.now()
    count = await repository.redeliver(conn, merchant_id, event_id, now, now + RETRY_WINDOW)
    if count is None:
        raise not_found("event")
    return Requeued(deliveries=count)


async def recover(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID, since: datetime
) -> Requeued:
    await get_endpoint(conn, merchant_id, endpoint_id)
    now = clock.now()
    count = await repository.recover(conn, merchant_id, endpoint_id, since, now, now + RETRY_WINDOW)
    return Requeued(deliveries=count)


async def send_test(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> TestSent:
    endpoint = await get_endpoint(conn, merchant_id, endpoint_id)
    if not endpoint.enabled:
        raise Problem(
            409, "endpoint-disabled", "Endpoint disabled", "Enable the endpoint to test it"
        )
    now = clock.now()
    event_id = await repository.queue_test(conn, merchant_id, endpoint_id, now, now + RETRY_WINDOW)
    return TestSent(event_id=event_id)


# The senders' side: what they dispatch, claim and record.


async def dispatch(conn: asyncpg.Connection, per_endpoint: int) -> tuple[int, int]:
    """New events fanned out into deliveries: (events looked at, deliveries made)."""
    now = clock.now()
    return await repository.dispatch(conn, per_endpoint, now, now + RETRY_WINDOW)


async def claim(conn: asyncpg.Connection, limit: int, lease: timedelta) -> list[Claimed]:
    now = clock.now()
    rows = await repository.claim(conn, now, now + lease, limit)
    return [Claimed(**dict(row)) for row in rows]


async def record(conn: asyncpg.Connection, sent: Sequence[Sent]) -> int:
    """Store the attempts and move their deliveries on (delivered, retried later, or given up);
    disable the endpoints that failed every attempt for the whole retry window. Returns how
    many deliveries moved on (those whose lease had not been lost)."""
    now = clock.now()
    statuses: list[str] = []
    retries: list[datetime | None] = []
    for s in sent:
        retry = (
            None if s.delivered else next_attempt_at(s.claimed.attempts, now, s.claimed.give_up_at)
        )
        statuses.append("delivered" if s.delivered else "pending" if retry else "failed")
        retries.append(retry)
    columns: list[list[Any]] = [
        [s.claimed.id for s in sent],
        [s.claimed.lease_id for s in sent],
        [s.claimed.merchant_id for s in sent],
        [s.claimed.endpoint_id for s in sent],
        [s.claimed.event_id for s in sent],
        [s.attempted_at for s in sent],
        [s.delivered for s in sent],
        [s.status_code for s in sent],
        [s.duration_ms for s in sent],
        [s.response_body for s in sent],
        [s.error for s in sent],
        statuses,
        retries,
    ]
    moved = await repository.record(conn, columns)
    failing = sorted({s.claimed.endpoint_id for s in sent if not s.delivered})
    if failing:
        await repository.disable_failing(conn, failing, now - RETRY_WINDOW, DISABLED_REASON, now)
    return moved

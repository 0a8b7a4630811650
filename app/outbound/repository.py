"""Outbound webhooks' statements: plain SQL on asyncpg, like the other busy paths.
Every statement a merchant's request makes filters by its merchant id; the senders' statements
span merchants and join on (merchant_id, id)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from app.outbound.catalog import ANY_TYPE, TEST_TYPE

ENDPOINT_COLUMNS = (
    "id, url, description, event_types, enabled, disabled_reason, secret_version,"
    " previous_secret_expires_at, failing_since, created_at, updated_at"
)
# The event's place among its plan's events: every earlier one has committed (a plan's events
# are written under its row lock), so the count is stable.
_SEQUENCE = """CASE WHEN e.plan_id IS NOT NULL THEN (
    SELECT count(*) FROM events s
    WHERE s.merchant_id = e.merchant_id AND s.plan_id = e.plan_id AND s.id <= e.id) END"""
# The feed's horizon (app.events.service): every transaction older has ended.
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

_INSERT_ENDPOINT = f"""
INSERT INTO webhook_endpoints
    (id, merchant_id, url, description, event_types, cursor_txid, cursor_event_id,
     created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, {_HORIZON}, 0, $6, $6)
RETURNING {ENDPOINT_COLUMNS}
"""  # noqa: S608 (constant SQL)
_GET_ENDPOINT = f"""
SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2
"""  # noqa: S608
_LIST_ENDPOINTS = f"""
SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
WHERE merchant_id = $1 AND ($2::uuid IS NULL OR id < $2)
ORDER BY id DESC LIMIT $3
"""  # noqa: S608
_UPDATE_ENDPOINT = f"""
UPDATE webhook_endpoints SET
    url = COALESCE($3, url),
    event_types = COALESCE($4, event_types),
    description = COALESCE($5, description),
    enabled = COALESCE($6, enabled),
    disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason
                           WHEN $6 THEN NULL ELSE 'disabled by the merchant' END,
    failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
    updated_at = $7
WHERE merchant_id = $1 AND id = $2
RETURNING {ENDPOINT_COLUMNS}
"""  # noqa: S608
# A re-enabled endpoint's pending deliveries start a new retry window from now (one a sender
# still holds keeps its lease: it is being posted).
_RESTART_PENDING = """
UPDATE webhook_deliveries
SET attempts = 0, next_attempt_at = $3, give_up_at = $4
WHERE merchant_id = $1 AND endpoint_id = $2 AND status = 'pending'
    AND (lease_until IS NULL OR lease_until <= $3)
"""
_DELETE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2 RETURNING id"
_ROTATE = """
UPDATE webhook_endpoints
SET secret_version = secret_version + 1, previous_secret_expires_at = $3, updated_at = $4
WHERE merchant_id = $1 AND id = $2
RETURNING id, secret_version, previous_secret_expires_at
"""
_LIST_ATTEMPTS = """
SELECT id, delivery_id, event_id, attempted_at,
    CASE WHEN delivered THEN 'delivered' ELSE 'failed' END AS outcome,
    status_code, duration_ms, response_body, error
FROM webhook_attempts
WHERE merchant_id = $1 AND endpoint_id = $2 AND ($3::bigint IS NULL OR id < $3)
    AND ($4::boolean IS NULL OR delivered = $4)
ORDER BY id DESC LIMIT $5
"""
# Queue a delivery again (or for the first time): pending from now, with a new window; unless
# a sender holds it now (it is being posted: taking its lease would let two post it at once).
_REQUEUE = """
ON CONFLICT (endpoint_id, event_id) DO UPDATE SET
    status = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at,
    give_up_at = EXCLUDED.give_up_at, lease_id = NULL, lease_until = NULL, delivered_at = NULL
WHERE webhook_deliveries.lease_until IS NULL
    OR webhook_deliveries.lease_until <= EXCLUDED.next_attempt_at
"""
_REDELIVER = f"""
INSERT INTO webhook_deliveries
    (merchant_id, endpoint_id, event_id, plan_id, sequence, created_at, next_attempt_at,
     give_up_at)
SELECT e.merchant_id, w.id, e.id, e.plan_id, {_SEQUENCE}, $3, $3, $4
FROM events AS e
JOIN webhook_endpoints AS w ON w.merchant_id = e.merchant_id
WHERE e.merchant_id = $1 AND e.id = $2 AND w.enabled AND e.type <> '{TEST_TYPE}'
    AND ('{ANY_TYPE}' = ANY(w.event_types) OR e.type = ANY(w.event_types))
{_REQUEUE}
"""  # noqa: S608
_EVENT_EXISTS = "SELECT EXISTS (SELECT FROM events WHERE merchant_id = $1 AND id = $2)"
_RECOVER = """
UPDATE webhook_deliveries
SET status = 'pending', attempts = 0, next_attempt_at = $4, give_up_at = $5,
    lease_id = NULL, lease_until = NULL
WHERE merchant_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3
"""
_TEST = f"""
WITH event AS (
    INSERT INTO events (merchant_id, type, data)
    VALUES ($1, '{TEST_TYPE}', jsonb_build_object('endpoint_id', $2::uuid))
    RETURNING id
)
INSERT INTO webhook_deliveries
    (merchant_id, endpoint_id, event_id, created_at, next_attempt_at, give_up_at)
SELECT $1, $2, id, $3, $3, $4 FROM event
RETURNING event_id
"""  # noqa: S608

# The dispatcher: each enabled endpoint's next events below the horizon, after its cursor,
# become delivery rows if it subscribes to them; its cursor moves past all it looked at. Only
# endpoints with something new are locked (an idle poll writes nothing).
# Endpoints another dispatcher holds are skipped, not waited for (NO KEY: inserting a delivery,
# whose foreign key locks its endpoint KEY SHARE, is not held up by a dispatch).
_DISPATCH = f"""
WITH horizon AS MATERIALIZED (
    SELECT {_HORIZON} AS xmin
), endpoint AS MATERIALIZED (
    SELECT id, merchant_id, event_types, cursor_txid, cursor_event_id
    FROM webhook_endpoints AS w, horizon AS h
    WHERE enabled AND EXISTS (
        SELECT FROM events AS e
        WHERE e.merchant_id = w.merchant_id AND e.txid < h.xmin
            AND (e.txid, e.id) > (w.cursor_txid, w.cursor_event_id))
    FOR NO KEY UPDATE OF w SKIP LOCKED
), seen AS MATERIALIZED (
    SELECT w.id AS endpoint_id, w.event_types, e.*
    FROM endpoint AS w, horizon AS h, LATERAL (
        SELECT e.id, e.txid, e.merchant_id, e.plan_id, e.type FROM events AS e
        WHERE e.merchant_id = w.merchant_id AND e.txid < h.xmin
            AND (e.txid, e.id) > (w.cursor_txid, w.cursor_event_id)
        ORDER BY e.txid, e.id
        LIMIT $1
    ) AS e
), made AS (
    INSERT INTO webhook_deliveries
        (merchant_id, endpoint_id, event_id, plan_id, sequence, created_at, next_attempt_at,
         give_up_at)
    SELECT e.merchant_id, e.endpoint_id, e.id, e.plan_id, {_SEQUENCE}, $2, $2, $3
    FROM seen AS e
    WHERE e.type <> '{TEST_TYPE}'
        AND ('{ANY_TYPE}' = ANY(e.event_types) OR e.type = ANY(e.event_types))
    ON CONFLICT DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE webhook_endpoints AS w SET cursor_txid = last.txid, cursor_event_id = last.id
    FROM (
        SELECT DISTINCT ON (endpoint_id) endpoint_id, txid, id FROM seen
        ORDER BY endpoint_id, txid DESC, id DESC
    ) AS last
    WHERE w.id = last.endpoint_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM seen) AS seen, (SELECT count(*) FROM made) AS made,
    (SELECT count(*) FROM moved) AS moved
"""  # noqa: S608

# The senders' claim: due deliveries of enabled endpoints, each leased to one sender. A later
# event of a plan waits while an earlier one is pending for the endpoint, or not yet dispatched
# to it (ids follow a plan's commit order; the cursor's (txid, id) order may not).
_CLAIM = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries AS d
    JOIN webhook_endpoints AS w ON w.merchant_id = d.merchant_id AND w.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
        AND (d.lease_until IS NULL OR d.lease_until <= $1)
        AND w.enabled
        AND NOT EXISTS (
            SELECT FROM webhook_deliveries AS p
            WHERE p.endpoint_id = d.endpoint_id AND p.plan_id = d.plan_id
                AND p.status = 'pending' AND p.event_id < d.event_id)
        AND NOT EXISTS (
            SELECT FROM events AS p
            WHERE p.merchant_id = d.merchant_id AND p.plan_id = d.plan_id
                AND p.id < d.event_id
                AND (p.txid, p.id) > (w.cursor_txid, w.cursor_event_id))
    ORDER BY d.next_attempt_at
    LIMIT $3
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries AS d
    SET lease_id = gen_random_uuid(), lease_until = $2, attempts = d.attempts + 1
    FROM due WHERE d.id = due.id
    RETURNING d.*
)
SELECT c.id, c.lease_id, c.merchant_id, c.endpoint_id, c.event_id, c.attempts, c.give_up_at,
    w.url, w.secret_version, w.previous_secret_expires_at,
    json_build_object(
        'id', e.id, 'type', e.type, 'created_at', e.created_at, 'plan_id', e.plan_id,
        'sequence', c.sequence, 'effective_date', e.effective_date, 'data', e.data
    )::text AS body
FROM claimed AS c
JOIN webhook_endpoints AS w ON w.merchant_id = c.merchant_id AND w.id = c.endpoint_id
JOIN events AS e ON e.merchant_id = c.merchant_id AND e.id = c.event_id
"""
# The outcome of attempts: each recorded, its delivery moved on unless its lease was lost (the
# sender took too long, or it was queued again meanwhile); an endpoint's failing streak starts
# at its first failure and ends with a success.
_RECORD = """
WITH r AS MATERIALIZED (
    SELECT * FROM unnest(
        $1::bigint[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::timestamptz[],
        $7::boolean[], $8::int[], $9::int[], $10::text[], $11::text[], $12::text[],
        $13::timestamptz[]
    ) AS r(id, lease_id, merchant_id, endpoint_id, event_id, attempted_at, delivered,
           status_code, duration_ms, response_body, error, status, next_attempt_at)
), moved AS (
    UPDATE webhook_deliveries AS d
    SET status = r.status, next_attempt_at = COALESCE(r.next_attempt_at, d.next_attempt_at),
        lease_id = NULL, lease_until = NULL,
        delivered_at = CASE WHEN r.delivered THEN r.attempted_at END
    FROM r WHERE d.id = r.id AND d.lease_id = r.lease_id
    RETURNING 1
), attempt AS (
    INSERT INTO webhook_attempts
        (merchant_id, endpoint_id, delivery_id, event_id, attempted_at, delivered,
         status_code, duration_ms, response_body, error)
    SELECT merchant_id, endpoint_id, id, event_id, attempted_at, delivered, status_code,
        duration_ms, response_body, error
    FROM r
    -- Not for a delivery deleted (with its endpoint) while it was being posted.
    WHERE EXISTS (SELECT FROM webhook_deliveries AS d WHERE d.id = r.id)
), health AS (
    SELECT endpoint_id, bool_or(delivered) AS ok, min(attempted_at) AS since
    FROM r GROUP BY endpoint_id
), streak AS (
    UPDATE webhook_endpoints AS w
    SET failing_since = CASE WHEN h.ok THEN NULL ELSE h.since END
    FROM health AS h
    WHERE w.id = h.endpoint_id AND (h.ok = (w.failing_since IS NOT NULL))
)
SELECT count(*) FROM moved
"""
# An endpoint that failed every attempt since `cutoff` or before is disabled, with an event.
_DISABLE = """
WITH off AS (
    UPDATE webhook_endpoints
    SET enabled = false, disabled_reason = $3, updated_at = $4
    WHERE id = ANY($1::uuid[]) AND enabled AND failing_since <= $2
    RETURNING id, merchant_id, url, failing_since
)
INSERT INTO events (merchant_id, type, data)
SELECT merchant_id, 'endpoint.disabled', jsonb_build_object(
    'endpoint_id', id, 'url', url, 'reason', $3::text, 'failing_since', failing_since)
FROM off
RETURNING merchant_id, (data->>'endpoint_id')::uuid
"""


async def insert_endpoint(
    conn: asyncpg.Connection,
    endpoint_id: uuid.UUID,
    merchant_id: uuid.UUID,
    url: str,
    description: str,
    event_types: list[str],
    now: datetime,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        _INSERT_ENDPOINT, endpoint_id, merchant_id, url, description, event_types, now
    )
    assert row is not None
    return row


async def get_endpoint(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(_GET_ENDPOINT, merchant_id, endpoint_id)
    return row


async def list_endpoints(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_LIST_ENDPOINTS, merchant_id, before, limit)
    return rows


async def update_endpoint(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    url: str | None,
    event_types: list[str] | None,
    description: str | None,
    enabled: bool | None,
    now: datetime,
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        _UPDATE_ENDPOINT, merchant_id, endpoint_id, url, event_types, description, enabled, now
    )
    return row


async def restart_pending(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    give_up_at: datetime,
) -> None:
    await conn.execute(_RESTART_PENDING, merchant_id, endpoint_id, now, give_up_at)


async def delete_endpoint(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> bool:
    return await conn.fetchval(_DELETE_ENDPOINT, merchant_id, endpoint_id) is not None


async def rotate_secret(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    previous_until: datetime,
    now: datetime,
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        _ROTATE, merchant_id, endpoint_id, previous_until, now
    )
    return row


async def list_attempts(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    delivered: bool | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _LIST_ATTEMPTS, merchant_id, endpoint_id, before, delivered, limit
    )
    return rows


async def redeliver(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    event_id: int,
    now: datetime,
    give_up_at: datetime,
) -> int | None:
    """Deliveries queued for the event to every enabled endpoint subscribed to it; None when
    the merchant has no such event."""
    if not await conn.fetchval(_EVENT_EXISTS, merchant_id, event_id):
        return None
    return _count(await conn.execute(_REDELIVER, merchant_id, event_id, now, give_up_at))


async def recover(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    since: datetime,
    now: datetime,
    give_up_at: datetime,
) -> int:
    status = await conn.execute(_RECOVER, merchant_id, endpoint_id, since, now, give_up_at)
    return _count(status)


async def queue_test(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    give_up_at: datetime,
) -> int:
    event_id: int = await conn.fetchval(_TEST, merchant_id, endpoint_id, now, give_up_at)
    return event_id


def _count(status: str) -> int:
    """The row count of a command's status ("UPDATE 3", "INSERT 0 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def dispatch(
    conn: asyncpg.Connection, per_endpoint: int, now: datetime, give_up_at: datetime
) -> tuple[int, int]:
    """Fan events out into deliveries: (events looked at, deliveries made)."""
    row = await conn.fetchrow(_DISPATCH, per_endpoint, now, give_up_at)
    assert row is not None
    return int(row["seen"]), int(row["made"])


async def claim(
    conn: asyncpg.Connection, now: datetime, lease_until: datetime, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_CLAIM, now, lease_until, limit)
    return rows


async def record(conn: asyncpg.Connection, columns: Sequence[Sequence[Any]]) -> int:
    """Store attempts given column-wise (as _RECORD's unnest lists them); the deliveries whose
    lease still held, moved on."""
    moved: int = await conn.fetchval(_RECORD, *columns)
    return moved


async def disable_failing(
    conn: asyncpg.Connection,
    endpoint_ids: list[uuid.UUID],
    failing_since: datetime,
    reason: str,
    now: datetime,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Disable those of the endpoints failing since `failing_since` or before, each with an
    endpoint.disabled event: the (merchant, endpoint) pairs disabled."""
    rows = await conn.fetch(_DISABLE, endpoint_ids, failing_since, reason, now)
    return [(row[0], row[1]) for row in rows]

"""The inbound provider events' statements."""

from __future__ import annotations

import uuid

import asyncpg

from app.errors import not_found
from app.payments.repository import LOCKED_PLAN_COLUMNS, LockedPlan

_SIGNING_VERSION = "SELECT webhook_secret_version FROM merchants WHERE id = $1"
# The event stored once per merchant, source and id, and the plan it is for locked, at once.
_CLAIM_AND_LOCK = "".join(
    (
        """
    WITH claimed AS (
        INSERT INTO inbound_events (merchant_id, source, external_id, type, payload)
        VALUES ($2, $3, $4, $5, $6::text::jsonb)
        ON CONFLICT DO NOTHING
        RETURNING external_id
    )
    SELECT EXISTS (SELECT FROM claimed), """,
        LOCKED_PLAN_COLUMNS,
        """
    FROM plans WHERE id = $1 AND merchant_id = $2
    FOR UPDATE
""",
    )
)


async def secret_version(conn: asyncpg.Connection, merchant_id: uuid.UUID) -> int | None:
    """The version of the merchant's webhook secret; None for an unknown merchant."""
    version: int | None = await conn.fetchval(_SIGNING_VERSION, merchant_id)
    return version


async def claim_and_lock(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID,
    source: str,
    external_id: str,
    type_: str,
    payload: str,
) -> tuple[bool, LockedPlan]:
    """Store the event once per merchant, source and id (False: it was stored before) and lock
    its plan, in one statement. An unknown plan is a 404, and the rollback forgets the event."""
    row = await conn.fetchrow(
        _CLAIM_AND_LOCK, plan_id, merchant_id, source, external_id, type_, payload
    )
    if row is None:
        raise not_found("plan")
    return row[0], LockedPlan(*row[1:])

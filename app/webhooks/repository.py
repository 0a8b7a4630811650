"""The inbound webhook's statements, on the driver connection (app.db.driver)."""

from __future__ import annotations

import uuid

import asyncpg

_SIGNING_VERSION = "SELECT webhook_secret_version FROM merchants WHERE id = $1"
_CLAIM = """
    INSERT INTO inbound_events (merchant_id, source, external_id, type, payload)
    VALUES ($1, $2, $3, $4, $5::text::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING external_id
"""


async def secret_version(conn: asyncpg.Connection, merchant_id: uuid.UUID) -> int | None:
    """The version of the merchant's webhook secret; None for an unknown merchant."""
    version: int | None = await conn.fetchval(_SIGNING_VERSION, merchant_id)
    return version


async def claim(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    source: str,
    external_id: str,
    type_: str,
    payload: str,
) -> bool:
    """Store the event once per merchant, source and id: False when it was already stored."""
    claimed = await conn.fetchval(_CLAIM, merchant_id, source, external_id, type_, payload)
    return claimed is not None

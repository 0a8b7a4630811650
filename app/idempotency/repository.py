"""Idempotency keys' statements: the claim, the first answer, and the fragments with which a
work's own statement stores its answer (one round trip less)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

import asyncpg

from app.db import advisory_lock_sql


@functools.cache
def _claim_sql(read: str | None, first: int) -> str:
    """The claim: an INSERT of the key that returns a row only if the key is ours. Its own
    parameters come after those of `read` (from $`first` on): the key, the request's hash, the
    expiry and an advisory lock (hashtextextended) to take once the key is ours, if not NULL, so
    a request that must serialize with others (plan creation, per customer) saves the round trip
    of taking it alone."""
    # Composed of this module's text, parameter numbers and a read's constant SQL: no input.
    key, digest, expires, lock = (f"${first + n}" for n in range(4))
    found = " FROM claimed"
    if read:
        found = (
            ", found.* FROM claimed LEFT JOIN"  # noqa: S608
            f" (SELECT true AS found, r.* FROM ({read}) AS r) AS found ON true"
        )
    return f"""
    WITH claimed AS (
        INSERT INTO idempotency_keys
            (merchant_id, key, request_hash, response_status, response_body, expires_at)
        VALUES ($1, {key}, {digest}, 0, '', {expires})
        ON CONFLICT DO NOTHING
        RETURNING key
    )
    SELECT {lock}::text IS NULL OR {advisory_lock_sql(lock)}{found}
    """  # noqa: S608


_LOCK = f"SELECT {advisory_lock_sql('$1')}"
_FIRST = """
    SELECT request_hash, response_status, response_body, expires_at FROM idempotency_keys
    WHERE merchant_id = $1 AND key = $2
"""
_FORGET = "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2"
_PURGE = "DELETE FROM idempotency_keys WHERE expires_at < $1"
_STORE = """
    UPDATE idempotency_keys SET response_status = $3, response_body = $4
    WHERE merchant_id = $1 AND key = $2
"""


async def claim(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    read: str | None,
    read_args: tuple[object, ...],
    key: str,
    digest: bytes,
    expires_at: datetime | None,
    lock: str | None,
) -> asyncpg.Record | None:
    """Claim the key (a row, with what `read` found, when it is ours; None when it is known)."""
    sql = _claim_sql(read, 2 + len(read_args))
    return await conn.fetchrow(sql, merchant_id, *read_args, key, digest, expires_at, lock)


async def first_answer(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, key: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(_FIRST, merchant_id, key)


async def forget(conn: asyncpg.Connection, merchant_id: uuid.UUID, key: str) -> None:
    await conn.execute(_FORGET, merchant_id, key)


async def store(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, key: str, status: int, body: bytes
) -> None:
    await conn.execute(_STORE, merchant_id, key, status, body)


async def purge_expired(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete the answers kept past their time (of every merchant); how many."""
    done: str = await conn.execute(_PURGE, now)
    return int(done.split()[-1])


async def lock(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute(_LOCK, key)


async def read(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, sql: str, args: tuple[object, ...]
) -> asyncpg.Record | None:
    return await conn.fetchrow(sql, merchant_id, *args)


def store_claimed_sql() -> str:
    """SQL returning a row once it stored the answer (:response_status, :response_body) under
    the key :idempotency_key claimed in this transaction by :merchant_id: for a work's last
    statement to store its own answer."""
    return """
    UPDATE idempotency_keys SET response_status = :response_status, response_body = :response_body
    WHERE merchant_id = :merchant_id AND key = :idempotency_key
    RETURNING key"""


def store_new_sql(guard: str) -> str:
    """SQL returning a row only if it stored the answer under the new key :idempotency_key of
    :merchant_id (with :request_hash and :expires_at), when the SQL condition `guard` holds: for
    a work done in one statement with no claim before it."""
    return f"""
    INSERT INTO idempotency_keys
        (merchant_id, key, response_status, response_body, request_hash, expires_at)
    SELECT :merchant_id, :idempotency_key, :response_status, :response_body, :request_hash,
        :expires_at
    WHERE {guard}
    ON CONFLICT DO NOTHING
    RETURNING key"""

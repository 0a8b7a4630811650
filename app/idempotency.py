"""Idempotency-Key: the same key and body replay the first answer; the same key with another body
is a 422; a retry while the first is still running waits for it, and is a 409 if it runs long.

Two ways to keep that promise, both storing the answer atomically with what the request wrote,
so a crash leaves no half-claimed key behind:
- `idempotent`: the key is claimed first, by an INSERT in the request's own transaction. A
  concurrent request with the same key blocks on that row until the first commits (then replays
  it) or rolls back (then runs itself).
- `write_last`, for a work that writes everything in one statement (plan creation): one read
  looks the key up, then the work's single statement stores the answer with everything else,
  guarded by the key (`store_answer_sql`), with no transaction around the two. Twins that raced
  past the read both compute the answer; the key lets one statement write and stops the other,
  which then replays what the first stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app import clock
from app.config import Settings
from app.errors import Problem
from app.responses import json_response

KeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A unique key per operation (a UUID is best); retries reuse it.",
    ),
]
OptionalKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Optional: a unique key per operation; retries reuse it.",
    ),
]


def fingerprint(request: Request, body: BaseModel | None) -> bytes:
    payload = body.model_dump(mode="json") if body is not None else None
    canonical = json.dumps(
        [request.method, request.url.path, payload], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).digest()


@dataclass(frozen=True, slots=True)
class Read:
    """A one-row SELECT that rides on `write_last`'s look-up of the key, saving a round trip: its
    parameters are $1 (the merchant id), then `args` from $2 on. The work finds its row in
    `Answer.found` (None when it found nothing)."""

    sql: str
    args: tuple[object, ...] = ()


_CLAIM = """
    INSERT INTO idempotency_keys
        (merchant_id, key, request_hash, response_status, response_body, expires_at)
    VALUES ($1, $2, $3, 0, '', $4)
    ON CONFLICT DO NOTHING
    RETURNING key
"""
_FIRST = """
    SELECT request_hash, response_status, response_body, expires_at FROM idempotency_keys
    WHERE merchant_id = $1 AND key = $2
"""
_FORGET = "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2"
_STORE = """
    UPDATE idempotency_keys SET response_status = $3, response_body = $4
    WHERE merchant_id = $1 AND key = $2
"""


@functools.cache
def _lookup_sql(read: str, key: int) -> str:
    """`write_last`'s first statement: the answer stored under the key ($`key`), if any, and the
    row of `read` (with `found` true), side by side in one row."""
    # Composed of this module's text, a parameter number and a `Read`'s constant SQL: no input.
    return f"""
    SELECT stored.request_hash, stored.response_status, stored.response_body, stored.expires_at,
        found.*
    FROM (SELECT) AS one
    LEFT JOIN idempotency_keys AS stored ON stored.merchant_id = $1 AND stored.key = ${key}
    LEFT JOIN (SELECT true AS found, r.* FROM ({read}) AS r) AS found ON true
    """  # noqa: S608


def store_answer_sql(merchant: int, first: int) -> str:
    """The INSERT that stores a `write_last` answer, for the work's statement: the merchant id at
    $`merchant`, then the parameters of `Answer.store_with` from $`first` on. It returns a row
    only when the key was free (or held an expired answer), so every write of the statement
    must select from it; when a twin stored first, it returns none (having waited for the twin,
    up to lock_timeout) and the work raises `KeyTaken`."""
    key, digest, status, body, expires, now = (f"${first + n}" for n in range(6))
    return f"""
    INSERT INTO idempotency_keys AS k
        (merchant_id, key, request_hash, response_status, response_body, expires_at)
    VALUES (${merchant}, {key}, {digest}, {status}, {body}, {expires})
    ON CONFLICT (merchant_id, key) DO UPDATE SET
        request_hash = excluded.request_hash, response_status = excluded.response_status,
        response_body = excluded.response_body, expires_at = excluded.expires_at,
        created_at = {now}
    WHERE k.expires_at < {now}
    RETURNING true AS stored
    """  # noqa: S608 (parameter numbers only)


class KeyTaken(Exception):
    """Raised by a `write_last` work whose statement found its key stored by a twin."""


def _replay(status: int, body: bytes) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def _stored(row: asyncpg.Record, digest: bytes) -> Response:
    """The replay of a stored answer, or a 422 problem when the key came with another request."""
    if row["request_hash"] != digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request; use a new key",
        )
    return _replay(row["response_status"], row["response_body"])


def _in_progress(exc: asyncpg.LockNotAvailableError) -> Problem:
    return Problem(
        409,
        "idempotency-in-progress",
        "Request in progress",
        "A request with this Idempotency-Key is still running; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _claim(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, key: str, digest: bytes, settings: Settings
) -> Response | None:
    """None once the key is ours, or the replay of the first answer."""
    now = clock.now()
    expires = now + timedelta(hours=settings.idempotency_ttl_hours)
    try:
        claimed = await conn.fetchval(_CLAIM, merchant_id, key, digest, expires)
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress(exc) from exc
    if claimed is not None:
        return None
    row = await conn.fetchrow(_FIRST, merchant_id, key)
    if row is None:  # the twin rolled back, or the key was purged, since the claim saw it
        return await _claim(conn, merchant_id, key, digest, settings)
    if row["expires_at"] < now:
        # Past its time: forget it and claim the key afresh (rare, so kept off the common path).
        await conn.execute(_FORGET, merchant_id, key)
        return await _claim(conn, merchant_id, key, digest, settings)
    return _stored(row, digest)


@dataclass(slots=True)
class Answer:
    """The answer to a request under an Idempotency-Key (`key` None: none was sent). For a
    `write_last` work: `found` is the row of its `Read` (None when it found nothing), and
    `store_with` gives what its statement stores with `store_answer_sql`."""

    key: str | None
    status_code: int
    found: asyncpg.Record | None = None
    digest: bytes = b""
    now: datetime | None = None
    expires_at: datetime | None = None
    body: bytes | None = None

    def store_with(
        self, model: BaseModel
    ) -> tuple[str | None, bytes, int, bytes, datetime | None, datetime | None]:
        """The parameters of `store_answer_sql`, with the exact bytes about to be sent."""
        self.body = model.model_dump_json().encode()
        return self.key, self.digest, self.status_code, self.body, self.expires_at, self.now


async def idempotent(
    conn: asyncpg.Connection,
    request: Request,
    merchant_id: uuid.UUID,
    key: str | None,
    body: BaseModel | None,
    status_code: int,
    work: Callable[[Answer], Awaitable[BaseModel]],
) -> Response:
    """Run `work` once per key, in the transaction `conn` is in; store its answer with it."""
    if key is not None:
        settings: Settings = request.app.state.settings
        replay = await _claim(conn, merchant_id, key, fingerprint(request, body), settings)
        if replay is not None:
            return replay
    result = await work(Answer(key, status_code))
    response = json_response(result, status_code)
    if key is not None:
        await conn.execute(_STORE, merchant_id, key, status_code, bytes(response.body))
    return response


async def write_last(
    conn: asyncpg.Connection,
    request: Request,
    merchant_id: uuid.UUID,
    key: str,
    body: BaseModel,
    status_code: int,
    work: Callable[[Answer], Awaitable[object]],
    *,
    read: Read,
) -> Response:
    """Run `work` once per key, where the work writes everything, and stores its answer
    (`Answer.store_with`, `store_answer_sql`), in one statement; `conn` is in no transaction
    (the work may open one). `read`: a row the work needs, read with the key's look-up."""
    settings: Settings = request.app.state.settings
    digest = fingerprint(request, body)
    now = clock.now()
    sql = _lookup_sql(read.sql, 2 + len(read.args))
    row = await conn.fetchrow(sql, merchant_id, *read.args, key)
    assert row is not None  # (SELECT) always has its one row
    if row["request_hash"] is not None and row["expires_at"] >= now:
        return _stored(row, digest)
    found = row if row["found"] else None
    expires_at = now + timedelta(hours=settings.idempotency_ttl_hours)
    answer = Answer(key, status_code, found, digest, now, expires_at)
    try:
        await work(answer)
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress(exc) from exc
    except KeyTaken:
        stored = await conn.fetchrow(_FIRST, merchant_id, key)
        if stored is None:  # purged since: as good as free, so run again
            return await write_last(
                conn, request, merchant_id, key, body, status_code, work, read=read
            )
        return _stored(stored, digest)
    assert answer.body is not None, "a write_last work stores its answer"
    return Response(answer.body, status_code=status_code, media_type="application/json")

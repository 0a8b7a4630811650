"""Idempotency-Key: the same key and body replay the first answer; the same key with another body
is a 422; a retry while the first is still running waits for it, and is a 409 if it runs long.

The key is claimed by an INSERT in the request's own transaction (`idempotent`), so the answer is
stored atomically with what the request created, and a crash leaves no half-claimed key behind.
A concurrent request with the same key blocks on that row until the first commits (then replays
it) or rolls back (then runs itself).

A request that can write everything in one statement may first try `at_once`: that statement
stores its answer under the key only if the key is new, and writes the rest only if it did; when
it writes nothing (a replay, a twin, an expired answer, or a guard of the caller's that failed),
the request runs `idempotent` as above.
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
from app.db import advisory_lock_sql
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
    """A one-row SELECT that rides on the claim's statement, saving a round trip: its parameters
    are $1 (the merchant id), then `args` from $2 on. Its snapshot is taken before the work's
    `lock` is held, so what that lock guards, the work must read again once it holds it (plan
    creation recounts a customer's plans). The work finds its row in `Answer.found` (None when
    it found nothing)."""

    sql: str
    args: tuple[object, ...] = ()


@functools.cache
def _claim_sql(read: str | None, first: int) -> str:
    """The claim: an INSERT of the key that returns a row only if the key is ours. Its own
    parameters come after those of `read` (from $`first` on): the key, the request's hash, the
    expiry and an advisory lock (hashtextextended) to take once the key is ours, if not NULL, so
    a request that must serialize with others (plan creation, per customer) saves the round trip
    of taking it alone."""
    # Composed of this module's text, parameter numbers and a `Read`'s constant SQL: no input.
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
_STORE = """
    UPDATE idempotency_keys SET response_status = $3, response_body = $4
    WHERE merchant_id = $1 AND key = $2
"""


def _in_progress() -> Problem:
    return Problem(
        409,
        "idempotency-in-progress",
        "Request in progress",
        "A request with this Idempotency-Key is still running; retry shortly",
        headers={"Retry-After": "1"},
    )


def _replay(status: int, body: bytes) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def _claim(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    answer: Answer,
    lock: str | None,
    read: Read | None,
) -> Response | asyncpg.Record:
    """The claimed row (with what `read` found), or the replay of the first answer."""
    key, digest = answer.key, answer.digest
    args = read.args if read else ()
    sql = _claim_sql(read.sql if read else None, 2 + len(args))
    try:
        claimed = await conn.fetchrow(sql, merchant_id, *args, key, digest, answer.expires_at, lock)
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress() from exc
    if claimed is not None:
        return claimed
    row = await conn.fetchrow(_FIRST, merchant_id, key)
    if row is None:  # the twin rolled back, or the key was purged, since the claim saw it
        return await _claim(conn, merchant_id, answer, lock, read)
    if row["expires_at"] < clock.now():
        # Past its time: forget it and claim the key afresh (rare, so kept off the common path).
        await conn.execute(_FORGET, merchant_id, key)
        return await _claim(conn, merchant_id, answer, lock, read)
    if row["request_hash"] != digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request; use a new key",
        )
    return _replay(row["response_status"], row["response_body"])


@dataclass(slots=True)
class Answer:
    """The answer to a request under an Idempotency-Key (`key` None: none was sent), with the
    request's fingerprint (`digest`) and when a stored answer expires. A work whose last
    statement can also store the answer (an UPDATE of idempotency_keys like _STORE) calls
    `store_with` and puts what it returns in that statement: one round trip less. `at_once`'s
    statement calls `store_new_with`. `found`: the row of the `Read` done with the claim, if
    one was asked for and found."""

    key: str | None
    status_code: int
    digest: bytes = b""
    expires_at: datetime | None = None
    body: bytes | None = None
    found: asyncpg.Record | None = None

    def store_with(self, model: BaseModel) -> tuple[str | None, int, bytes]:
        """The key, status and exact bytes the caller's statement must store."""
        self.body = model.model_dump_json().encode()
        return self.key, self.status_code, self.body

    def store_new_with(
        self, model: BaseModel
    ) -> tuple[str | None, int, bytes, bytes, datetime | None]:
        """`store_with`, then the request's hash and the expiry: what an INSERT of a new key
        stores (`at_once`)."""
        return *self.store_with(model), self.digest, self.expires_at


def answer_for(
    request: Request, key: str | None, body: BaseModel | None, status_code: int
) -> Answer:
    """The Answer a request under `key` will give, fingerprinted."""
    if key is None:
        return Answer(None, status_code)
    settings: Settings = request.app.state.settings
    expires = clock.now() + timedelta(hours=settings.idempotency_ttl_hours)
    return Answer(key, status_code, fingerprint(request, body), expires)


async def at_once(answer: Answer, write: Callable[[Answer], Awaitable[bool]]) -> Response | None:
    """Run `write`: one statement, outside a transaction, that stores `answer` under its key
    only if the key is new (`Answer.store_new_with`, in an `INSERT ... ON CONFLICT DO NOTHING`)
    and writes the rest only if it did; it returns whether it wrote. Then the response; or None
    when it wrote nothing (the key is known, or a guard of the statement's failed): the caller
    then runs `idempotent`, which replays, refuses, or does the work with what it reads.

    A twin of the request that is still running makes the statement wait for it, within the
    lock timeout (a 409, as in `idempotent`). Without a key there is nothing to store: None."""
    if answer.key is None:
        return None
    try:
        wrote = await write(answer)
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress() from exc
    if not wrote:
        answer.body = None  # `idempotent` must not take it for one its work stored
        return None
    assert answer.body is not None  # store_new_with set it
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")


async def idempotent(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    answer: Answer,
    work: Callable[[Answer], Awaitable[BaseModel]],
    *,
    lock: str | None = None,
    read: Read | None = None,
) -> Response:
    """Run `work` once per key; store its answer (`answer_for` the request) with it in the same
    transaction. `lock`: an advisory lock (hashtextextended) to hold before the work runs;
    `read`: a row the work needs, read in the claim's statement."""
    if answer.key is not None:
        claimed = await _claim(conn, merchant_id, answer, lock, read)
        if isinstance(claimed, Response):
            return claimed
        if read is not None and claimed["found"]:
            answer.found = claimed
    else:
        if lock is not None:
            await conn.execute(_LOCK, lock)
        if read is not None:
            answer.found = await conn.fetchrow(read.sql, merchant_id, *read.args)
    result = await work(answer)
    status_code = answer.status_code
    if answer.body is not None:  # the work stored it
        return Response(answer.body, status_code=status_code, media_type="application/json")
    response = json_response(result, status_code)
    if answer.key is not None:
        await conn.execute(_STORE, merchant_id, answer.key, status_code, bytes(response.body))
    return response

"""Idempotency-Key: the same key and body replay the first answer; the same key with another body
is a 422; a retry while the first is still running waits for it, and is a 409 if it runs long.

The key is claimed by an INSERT in the request's own transaction (`idempotent`), so the answer is
stored atomically with what the request created, and a crash leaves no half-claimed key behind.
A concurrent request with the same key blocks on that row until the first commits (then replays
it) or rolls back (then runs itself).

A request that can write everything in one statement may first try `in_one_statement`: that
statement stores its answer under the key only if the key is new, and writes the rest only if it
did; when it writes nothing (a replay, a twin, an expired answer, or a guard of the caller's
that failed), the request runs `idempotent` as above.

Both give an `Answered`: the status and exact bytes to send, which the endpoint turns into its
response (`Answered.response`).
"""

from __future__ import annotations

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
from app.idempotency import repository

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
class ClaimRead:
    """A one-row read that rides on the claim's statement, saving a round trip: its parameters
    are $1 (the merchant id), then `args` from $2 on. Its snapshot is taken before the work's
    `lock` is held, so what that lock guards, the work must read again once it holds it (plan
    creation recounts a customer's plans). The work finds its row in
    `IdempotentRequest.found` (None when it found nothing)."""

    sql: str
    args: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class Answered:
    """The answer to send: its status and exact JSON bytes, and whether it replays the answer a
    first request under the same key got."""

    status_code: int
    body: bytes
    replayed: bool = False

    def response(self) -> Response:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return Response(
            self.body,
            status_code=self.status_code,
            media_type="application/json",
            headers=headers,
        )


def _in_progress() -> Problem:
    return Problem(
        409,
        "idempotency-in-progress",
        "Request in progress",
        "A request with this Idempotency-Key is still running; retry shortly",
        headers={"Retry-After": "1"},
    )


@dataclass(slots=True)
class IdempotentRequest:
    """A request under an Idempotency-Key (`key` None: none was sent), with its fingerprint
    (`digest`), the status its answer has and when a stored answer expires. A work whose last
    statement can also store the answer (repository.store_claimed_sql) puts
    `stored_answer(...)` in that statement: one round trip less; `in_one_statement`'s statement
    puts `new_key(...)` (repository.store_new_sql). `found`: the row of the `ClaimRead` done
    with the claim, if one was asked for and found."""

    key: str | None
    status_code: int
    digest: bytes = b""
    expires_at: datetime | None = None
    body: bytes | None = None
    found: asyncpg.Record | None = None

    def stored_answer(self, model: BaseModel) -> dict[str, object]:
        """The parameters with which a statement stores the answer `model` under the key
        claimed (`repository.store_claimed_sql`)."""
        self.body = model.model_dump_json().encode()
        return {
            "idempotency_key": self.key,
            "response_status": self.status_code,
            "response_body": self.body,
        }

    def new_key(self, model: BaseModel) -> dict[str, object]:
        """`stored_answer`, with the request's hash and the expiry: what a statement storing a
        new key takes (`repository.store_new_sql`)."""
        return {
            **self.stored_answer(model),
            "request_hash": self.digest,
            "expires_at": self.expires_at,
        }


def idempotent_request(
    request: Request, key: str | None, body: BaseModel | None, status_code: int
) -> IdempotentRequest:
    """The request under `key`, fingerprinted, whose answer will have `status_code`."""
    if key is None:
        return IdempotentRequest(None, status_code)
    settings: Settings = request.app.state.settings
    expires = clock.now() + timedelta(hours=settings.idempotency_ttl_hours)
    return IdempotentRequest(key, status_code, fingerprint(request, body), expires)


async def _claim(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    request: IdempotentRequest,
    lock: str | None,
    read: ClaimRead | None,
) -> Answered | asyncpg.Record:
    """The claimed row (with what `read` found), or the replay of the first answer."""
    key = request.key
    assert key is not None
    try:
        claimed = await repository.claim(
            conn,
            merchant_id,
            read.sql if read else None,
            read.args if read else (),
            key,
            request.digest,
            request.expires_at,
            lock,
        )
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress() from exc
    if claimed is not None:
        return claimed
    row = await repository.first_answer(conn, merchant_id, key)
    if row is None:  # the twin rolled back, or the key was purged, since the claim saw it
        return await _claim(conn, merchant_id, request, lock, read)
    if row["expires_at"] < clock.now():
        # Past its time: forget it and claim the key afresh (rare, so kept off the common path).
        await repository.forget(conn, merchant_id, key)
        return await _claim(conn, merchant_id, request, lock, read)
    if row["request_hash"] != request.digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request; use a new key",
        )
    return Answered(row["response_status"], row["response_body"], replayed=True)


async def in_one_statement(
    request: IdempotentRequest, write: Callable[[IdempotentRequest], Awaitable[bool]]
) -> Answered | None:
    """Run `write`: one statement, outside a transaction, that stores the answer under its key
    only if the key is new (`IdempotentRequest.new_key`, in `repository.store_new_sql`) and
    writes the rest only if it did; it returns whether it wrote. Then the answer; or None when
    it wrote nothing (the key is known, or a guard of the statement's failed): the caller then
    runs `idempotent`, which replays, refuses, or does the work with what it reads.

    A twin of the request that is still running makes the statement wait for it, within the
    lock timeout (a 409, as in `idempotent`). Without a key there is nothing to store: None."""
    if request.key is None:
        return None
    try:
        wrote = await write(request)
    except asyncpg.LockNotAvailableError as exc:
        raise _in_progress() from exc
    if not wrote:
        request.body = None  # `idempotent` must not take it for one its work stored
        return None
    assert request.body is not None  # new_key set it
    return Answered(request.status_code, request.body)


async def idempotent(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    request: IdempotentRequest,
    work: Callable[[IdempotentRequest], Awaitable[BaseModel]],
    *,
    lock: str | None = None,
    read: ClaimRead | None = None,
) -> Answered:
    """Run `work` once per key; store its answer with it in the same transaction. `lock`: an
    advisory lock (hashtextextended) to hold before the work runs; `read`: a row the work
    needs, read in the claim's statement."""
    if request.key is not None:
        claimed = await _claim(conn, merchant_id, request, lock, read)
        if isinstance(claimed, Answered):
            return claimed
        if read is not None and claimed["found"]:
            request.found = claimed
    else:
        if lock is not None:
            await repository.lock(conn, lock)
        if read is not None:
            request.found = await repository.read(conn, merchant_id, read.sql, read.args)
    result = await work(request)
    status_code = request.status_code
    if request.body is not None:  # the work stored it
        return Answered(status_code, request.body)
    body = result.model_dump_json().encode()
    if request.key is not None:
        await repository.store(conn, merchant_id, request.key, status_code, body)
    return Answered(status_code, body)

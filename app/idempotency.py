"""Idempotency-Key: the same key and body replay the first answer; the same key with another body
is a 422; a retry while the first is still running waits for it, and is a 409 if it runs long.

The key is claimed by an INSERT in the request's own transaction, so the answer is stored
atomically with what the request created, and a crash leaves no half-claimed key behind. A
concurrent request with the same key blocks on that row until the first commits (then replays
it) or rolls back (then runs itself).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.config import Settings
from app.errors import Problem
from app.models import IdempotencyKey

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
LOCK_NOT_AVAILABLE = "55P03"


def fingerprint(request: Request, body: BaseModel | None) -> bytes:
    payload = body.model_dump(mode="json") if body is not None else None
    canonical = json.dumps(
        [request.method, request.url.path, payload], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).digest()


def _replay(row: IdempotencyKey) -> Response:
    return Response(
        row.response_body,
        status_code=row.response_status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def _claim(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    key: str,
    digest: bytes,
    settings: Settings,
) -> Response | None:
    now = clock.now()
    claim = (
        insert(IdempotencyKey)
        .values(
            merchant_id=merchant_id,
            key=key,
            request_hash=digest,
            response_status=0,
            response_body=b"",
            expires_at=now + timedelta(hours=settings.idempotency_ttl_hours),
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    # Also bounds every later lock wait of this request; one that runs out is a 503 (errors.py).
    wait_ms = int(settings.idempotency_wait_seconds * 1000)
    await session.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
    try:
        claimed = (await session.execute(claim)).scalar_one_or_none()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise Problem(
                409,
                "idempotency-in-progress",
                "Request in progress",
                "A request with this Idempotency-Key is still running; retry shortly",
                headers={"Retry-After": "1"},
            ) from exc
        raise
    if claimed is not None:
        return None
    row = (
        await session.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key
            )
        )
    ).scalar_one()
    if row.expires_at < now:
        # Past its time: forget it and claim the key afresh (rare, so kept off the common path).
        await session.delete(row)
        await session.flush()
        return await _claim(session, merchant_id, key, digest, settings)
    if row.request_hash != digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request; use a new key",
        )
    return _replay(row)


async def idempotent(
    session: AsyncSession,
    request: Request,
    merchant_id: uuid.UUID,
    key: str | None,
    body: BaseModel | None,
    status_code: int,
    work: Callable[[], Awaitable[BaseModel]],
) -> Response:
    """Run `work` once per key; store its answer with it in the same transaction."""
    if key is None:
        result = await work()
        return JSONResponse(result.model_dump(mode="json"), status_code=status_code)
    settings: Settings = request.app.state.settings
    replay = await _claim(session, merchant_id, key, fingerprint(request, body), settings)
    if replay is not None:
        return replay
    response = JSONResponse((await work()).model_dump(mode="json"), status_code=status_code)
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key)
        .values(response_status=status_code, response_body=bytes(response.body))
    )
    return response

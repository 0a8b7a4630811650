"""idempotency.write_last straight on the database: the look-up's ride-along read, replays, and
the twin that stores its key between our look-up and our write."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.db import connection
from app.errors import Problem
from app.idempotency import Answer, KeyTaken, Read, store_answer_sql, write_last
from tests.conftest import Tenant

# A row only for the merchant $1 asks about: the read sees the tenant the key is looked up for.
_MERCHANT = Read("SELECT id, name FROM merchants WHERE id = $1 AND name = $2", ("Shop A",))
# A work's whole write: the answer alone, guarded by the key like every write of such a work.
_STORE = (
    f"WITH answered AS ({store_answer_sql(merchant=1, first=2)})"  # noqa: S608 (constant SQL)
    " SELECT count(*) FROM answered"
)


class Seen(BaseModel):
    found: dict[str, Any] | None


class Asked(BaseModel):
    """The request body, part of the key's fingerprint."""

    n: int = 1


def _request(app: FastAPI) -> Any:
    return SimpleNamespace(app=app, method="POST", url=SimpleNamespace(path="/test"))


@pytest.fixture
async def conn(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    async with connection(_request(app), transaction=False) as conn:
        yield conn


Before = Callable[[Answer], Awaitable[None]]


async def _run(
    conn: asyncpg.Connection,
    app: FastAPI,
    merchant: uuid.UUID,
    key: str,
    read: Read = _MERCHANT,
    *,
    body: Asked | None = None,
    before_write: Before | None = None,
    calls: list[Answer] | None = None,
) -> tuple[int, dict[str, Any] | None, bool]:
    """(status, what the work saw, whether the answer was a replay)."""

    async def work(answer: Answer) -> Seen:
        if calls is not None:
            calls.append(answer)
        found = answer.found
        row = None if found is None else {"id": str(found["id"]), "name": found["name"]}
        seen = Seen(found=row)
        if before_write is not None:
            await before_write(answer)
        if not await conn.fetchval(_STORE, merchant, *answer.store_with(seen)):
            raise KeyTaken
        return seen

    response = await write_last(
        conn, _request(app), merchant, key, body or Asked(), 200, work, read=read
    )
    replayed = response.headers.get("idempotent-replayed") == "true"
    return response.status_code, Seen.model_validate_json(response.body).found, replayed


async def test_the_work_gets_what_the_read_found(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant
) -> None:
    status, found, replayed = await _run(conn, app, tenant.id, "a-key")
    assert (status, found, replayed) == (200, {"id": str(tenant.id), "name": "Shop A"}, False)


async def test_a_read_that_finds_nothing_gives_none(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant
) -> None:
    read = Read(_MERCHANT.sql, ("Another shop",))
    assert await _run(conn, app, tenant.id, "a-key", read) == (200, None, False)


async def test_a_replay_does_not_run_the_work_again(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant
) -> None:
    calls: list[Answer] = []
    first = await _run(conn, app, tenant.id, "twice", calls=calls)
    # The same key and request: the stored answer, even though the read would now find nothing.
    again = await _run(conn, app, tenant.id, "twice", Read(_MERCHANT.sql, ("x",)), calls=calls)
    assert again == (first[0], first[1], True)
    assert len(calls) == 1


async def test_the_same_key_with_another_request_is_422(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant
) -> None:
    await _run(conn, app, tenant.id, "reused")
    with pytest.raises(Problem) as caught:
        await _run(conn, app, tenant.id, "reused", body=Asked(n=2))
    assert (caught.value.status, caught.value.slug) == (422, "idempotency-key-reused")


async def _store_as_twin(engine: AsyncEngine, merchant: uuid.UUID, key: str, digest: bytes) -> None:
    """A twin request that stored its answer (committed) while ours was computing."""
    async with engine.begin() as twin:
        await twin.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response_status,"
                " response_body, expires_at) VALUES (:m, :k, :h, 200, :b, :e)"
            ),
            {
                "m": merchant,
                "k": key,
                "h": digest,
                "b": b'{"found":{"id":"twin","name":"twin"}}',
                "e": clock.now() + timedelta(days=1),
            },
        )


@pytest.mark.parametrize("same_request", [True, False])
async def test_a_twin_that_stored_first_is_replayed_and_nothing_of_ours_is_written(
    conn: asyncpg.Connection, app: FastAPI, engine: AsyncEngine, tenant: Tenant, same_request: bool
) -> None:
    async def twin(answer: Answer) -> None:
        digest = answer.digest if same_request else b"\1" * 32
        await _store_as_twin(engine, tenant.id, "raced", digest)

    if not same_request:
        with pytest.raises(Problem) as caught:
            await _run(conn, app, tenant.id, "raced", before_write=twin)
        assert (caught.value.status, caught.value.slug) == (422, "idempotency-key-reused")
        return
    status, found, replayed = await _run(conn, app, tenant.id, "raced", before_write=twin)
    assert (status, found, replayed) == (200, {"id": "twin", "name": "twin"}, True)
    stored = await conn.fetchval(
        "SELECT response_body FROM idempotency_keys WHERE merchant_id = $1 AND key = 'raced'",
        tenant.id,
    )
    assert stored == b'{"found":{"id":"twin","name":"twin"}}'


async def test_an_expired_answer_is_replaced(
    conn: asyncpg.Connection, app: FastAPI, engine: AsyncEngine, tenant: Tenant
) -> None:
    async with engine.begin() as other:
        await other.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response_status,"
                " response_body, expires_at) VALUES (:m, 'old', :h, 201, 'stale', :e)"
            ),
            {"m": tenant.id, "h": b"\2" * 32, "e": clock.now() - timedelta(seconds=1)},
        )
    status, found, replayed = await _run(conn, app, tenant.id, "old")
    assert (status, replayed) == (200, False)
    assert found == {"id": str(tenant.id), "name": "Shop A"}
    assert (await _run(conn, app, tenant.id, "old"))[2] is True

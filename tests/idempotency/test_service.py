"""The claim's ride-along read (idempotency ClaimRead), straight on the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from app.db import connection
from app.idempotency.service import (
    ClaimRead,
    IdempotentRequest,
    idempotent,
    idempotent_request,
)
from tests.factories import Tenant

# A row only for the merchant $1 asks about: the read sees the tenant the claim is made for.
_MERCHANT = ClaimRead("SELECT id, name FROM merchants WHERE id = $1 AND name = $2", ("Shop A",))


class Seen(BaseModel):
    found: dict[str, Any] | None


def _request(app: FastAPI) -> Any:
    return SimpleNamespace(app=app, method="POST", url=SimpleNamespace(path="/test"))


@pytest.fixture
async def conn(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    async with connection(_request(app)) as conn:
        yield conn


async def _run(
    conn: asyncpg.Connection, app: FastAPI, merchant: uuid.UUID, key: str | None, read: ClaimRead
) -> dict[str, Any] | None:
    async def work(answer: IdempotentRequest) -> Seen:
        found = answer.found
        return Seen(
            found=None if found is None else {"id": str(found["id"]), "name": found["name"]}
        )

    answer = idempotent_request(_request(app), key, None, 200)
    response = await idempotent(conn, merchant, answer, work, read=read)
    return Seen.model_validate_json(response.body).found


@pytest.mark.parametrize("key", ["a-key", None])
async def test_the_work_gets_what_the_read_found(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant, key: str | None
) -> None:
    found = await _run(conn, app, tenant.id, key, _MERCHANT)
    assert found == {"id": str(tenant.id), "name": "Shop A"}


@pytest.mark.parametrize("key", ["a-key", None])
async def test_a_read_that_finds_nothing_gives_none(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant, key: str | None
) -> None:
    read = ClaimRead(_MERCHANT.sql, ("Another shop",))
    assert await _run(conn, app, tenant.id, key, read) is None


async def test_a_replay_does_not_run_the_work_again(
    conn: asyncpg.Connection, app: FastAPI, tenant: Tenant
) -> None:
    first = await _run(conn, app, tenant.id, "twice", _MERCHANT)
    # The same key and request: the stored answer, even though the read would now find nothing.
    again = await _run(conn, app, tenant.id, "twice", ClaimRead(_MERCHANT.sql, ("x",)))
    assert again == first is not None

"""The database, reached two ways, by purpose. The edge (a request, a job) opens the handle and owns
its transaction; services take the handle they are given, and never commit.

- `Session`, an ORM session (a request dependency): reads, and the writes that are not busy
  (products, merchants). One transaction a request, committed before the response is sent.
- `Connection`, an asyncpg connection in a transaction (`connection(request)` in an endpoint,
  `connect(engine)` in a job): the writes that move money or state (plan creation, acceptance,
  payments, the provider webhook, the sweep) and the busy reads (quotes, eligibility). Their
  plain SQL is in the domains' `repository.py`. With `transaction=False` the connection is
  outside a transaction and each statement commits alone: for work that is one statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from app.config import Settings

Connection = asyncpg.Connection


def create_engine(url: str, settings: Settings, *, serving: bool = False) -> AsyncEngine:
    """`serving`: the API's engine, whose every lock wait is bounded (a 503 when it runs out,
    errors.py); the sweep and the CLI wait as long as it takes."""
    server_settings = {"application_name": "bnpl", "timezone": "UTC"}
    if serving:
        server_settings["lock_timeout"] = str(int(settings.idempotency_wait_seconds * 1000))
        # A request's statements touch a handful of rows through their indexes, where a generic
        # plan is as good as a custom one; left to choose, PostgreSQL re-plans the CTE-heavy
        # payment statements on every execution (their array parameters make a generic plan
        # look costly), which was half of its CPU per payment.
        server_settings["plan_cache_mode"] = "force_generic_plan"
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        connect_args={"server_settings": server_settings},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session, session.begin():
        yield session


# scope="function": the commit happens before the response is sent, so a client never sees a
# success for a transaction that then failed to commit.
Session = Annotated[AsyncSession, Depends(_request_session, scope="function")]


@asynccontextmanager
async def connect(engine: AsyncEngine, *, transaction: bool = True) -> AsyncIterator[Connection]:
    """A pooled asyncpg connection in one transaction, committed when the block ends without an
    error, rolled back otherwise; with `transaction=False`, outside any transaction, each
    statement committing on its own (work that is one statement).

    It is the pool's connection itself, not an AsyncConnection around it (which cost ~75 us more
    a request); one left broken or mid-transaction goes back to the pool closed.
    """
    pooled = await engine.raw_connection()
    raw = pooled.driver_connection
    assert isinstance(raw, asyncpg.Connection)
    try:
        if transaction:
            async with raw.transaction():
                yield raw
        else:
            yield raw
    finally:
        broken = raw.is_closed() or raw.is_in_transaction()
        await greenlet_spawn(pooled.invalidate if broken else pooled.close)


def connection(
    request: Request, *, transaction: bool = True
) -> AbstractAsyncContextManager[Connection]:
    """`connect` on the API's engine, opened as a block in the endpoint (so committed before the
    response is sent, like `Session`) rather than through a dependency: FastAPI's handling of a
    generator dependency cost as much CPU again as the connection and its transaction."""
    return connect(request.app.state.engine, transaction=transaction)


def advisory_lock_sql(key: str) -> str:
    """An SQL condition, true, that takes the transaction-level advisory lock named by the text
    `key` (an expression or a placeholder); the lock holds until the transaction ends."""
    return f"pg_advisory_xact_lock(hashtextextended({key}, 0)) IS NOT NULL"

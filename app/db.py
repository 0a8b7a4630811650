"""Engine, sessions and the per-request transaction: the edge commits, services only flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from app.config import Settings


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


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction.

    A statement through SQLAlchemy costs ~0.4 ms more CPU than the same on asyncpg, so the
    services' statements are plain SQL on asyncpg, and a route with a session reaches them
    through this; they commit or roll back with the session. The first call opens the
    transaction with a statement through SQLAlchemy, so that its driver sends the BEGIN the
    session will COMMIT. Lock waits are bounded as the engine says (`create_engine`). jsonb goes
    in as `str` and comes out parsed (SQLAlchemy's codecs).
    """
    known = session.info.get("driver")
    if known is not None and known[0] is session.get_transaction():
        cached: asyncpg.Connection = known[1]
        return cached
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")  # the driver's BEGIN goes out before it
    found = await _asyncpg(connection)
    session.info["driver"] = (session.get_transaction(), found)
    return found


async def _asyncpg(connection: AsyncConnection) -> asyncpg.Connection:
    found = (await connection.get_raw_connection()).driver_connection
    assert isinstance(found, asyncpg.Connection)
    return found


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction, committed on success: for routes that need the database only sometimes."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session, session.begin():
        yield session


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(request) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a client never sees a
# success for a transaction that then failed to commit.
Session = Annotated[AsyncSession, Depends(_request_session, scope="function")]


@asynccontextmanager
async def pooled(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection, outside any transaction: each statement commits on its own
    (a write that is one statement: idempotency.at_once). `connection` opens a transaction.

    It is the pool's connection itself, not an AsyncConnection around it, which cost ~75 us
    more a request.
    """
    async with engine_connection(request.app.state.engine) as raw:
        yield raw


@asynccontextmanager
async def engine_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """`pooled`, for a job that has the engine rather than a request (the webhook senders)."""
    pooled = await engine.raw_connection()
    raw = pooled.driver_connection
    assert isinstance(raw, asyncpg.Connection)
    try:
        yield raw
    finally:
        # Back to the pool, as AsyncEngine does it; one left broken or mid-transaction (its
        # rollback failed) is closed instead.
        broken = raw.is_closed() or raw.is_in_transaction()
        await greenlet_spawn(pooled.invalidate if broken else pooled.close)


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection in one transaction, committed when the block ends without an
    error (so before the response is sent, like `Session`), rolled back otherwise.

    The busiest routes (plan creation, payments, the webhook) use it in place of the ORM
    session, as a block in the endpoint rather than a dependency: FastAPI's handling of a
    generator dependency cost as much CPU again as the connection and its transaction (~210,000
    instructions a request, by callgrind).
    """
    async with pooled(request) as raw, raw.transaction():
        yield raw


def advisory_lock_sql(key: str) -> str:
    """An SQL condition, true, that takes the transaction-level advisory lock named by the text
    `key` (an expression or a "$n" placeholder); the lock holds until the transaction ends."""
    return f"pg_advisory_xact_lock(hashtextextended({key}, 0)) IS NOT NULL"

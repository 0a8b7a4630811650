"""The retry ladder: when a failed delivery is tried again, and when it is given up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

# The wait before attempt n + 1 after attempt n failed (the first attempt goes at once); then
# every 12 hours, until three days after the delivery was queued (a last attempt is made then).
LADDER = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
THEN_EVERY = timedelta(hours=12)
RETRY_WINDOW = timedelta(days=3)
# Each wait is stretched or shrunk by up to this fraction, so that endpoints that failed
# together (an outage) are not all retried in the same second.
JITTER = 0.2
_random = random.Random()  # noqa: S311 (spreads retries; nothing secret)


def wait_after(attempts: int) -> timedelta:
    """The wait, before jitter, after the `attempts`-th attempt failed (1, 2, ...)."""
    return LADDER[attempts - 1] if attempts <= len(LADDER) else THEN_EVERY


def next_attempt_at(
    attempts: int, now: datetime, give_up_at: datetime, jitter: float | None = None
) -> datetime | None:
    """When to try again after the `attempts`-th attempt failed at `now`; None: give up (the
    window has closed). The last attempt is made when the window closes. `jitter` (-1 .. 1)
    picks where in the spread; random when None."""
    if now >= give_up_at:
        return None
    spread = _random.uniform(-1, 1) if jitter is None else jitter
    wait = wait_after(attempts) * (1 + JITTER * spread)
    return min(now + wait, give_up_at)

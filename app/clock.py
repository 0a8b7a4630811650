from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """The business date: UTC, like every timestamp we store. Tests pin `now`, and this follows."""
    return now().date()

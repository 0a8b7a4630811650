"""Calendar stepping: weeks are days, months keep one day of the month, clamped to its end."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"

    @property
    def periods_per_year(self) -> int:
        return _PERIODS_PER_YEAR[self]


_PERIODS_PER_YEAR = {Frequency.WEEKLY: 52, Frequency.BIWEEKLY: 26, Frequency.MONTHLY: 12}
_PERIOD_DAYS = {Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def on_day(year: int, month: int, day: int) -> date:
    """`day` of that month, or the month's last day when it is shorter."""
    return date(year, month, min(day, days_in_month(year, month)))


def add_months(start: date, months: int, day: int | None = None) -> date:
    """`months` calendar months from `start` (negative goes back), on `day` (default start's day).

    Raises ValueError past the years 1..9999.
    """
    index = start.year * 12 + start.month - 1 + months
    return on_day(index // 12, index % 12 + 1, start.day if day is None else day)


def series(first: date, count: int, frequency: Frequency, day: int) -> list[date]:
    """`count` due dates from `first`, one period apart, months on `day` clamped to month ends.

    Raises ValueError or OverflowError past the years 1..9999.
    """
    days = _PERIOD_DAYS.get(frequency)
    if days is not None:
        ordinal = first.toordinal()
        return [date.fromordinal(ordinal + days * k) for k in range(count)]
    start = first.year * 12 + first.month - 1
    if day <= 28:
        return [date(index // 12, index % 12 + 1, day) for index in range(start, start + count)]
    dates = []
    for index in range(start, start + count):
        year, month = divmod(index, 12)
        dates.append(on_day(year, month + 1, day))
    return dates


def period_days(frequency: Frequency) -> int | None:
    """Length of one period in days, or None for calendar months."""
    return _PERIOD_DAYS.get(frequency)


def step(anchor: date, periods: int, frequency: Frequency, day: int | None = None) -> date:
    """The date `periods` periods after `anchor`; months keep `day` (default anchor's day).

    Always computed from the anchor, so a clamped Feb 28 never drags later months to the 28th.
    Raises ValueError or OverflowError past the years 1..9999.
    """
    days = _PERIOD_DAYS.get(frequency)
    if days is None:
        return add_months(anchor, periods, day)
    return anchor + timedelta(days=days * periods)

"""Delinquency as of a date: days past due, state and bucket. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class DelinquencyState(StrEnum):
    CURRENT = "current"
    LATE = "late"
    DELINQUENT = "delinquent"
    DEFAULT = "default"


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "91+"


def first_day(state: DelinquencyState, grace_days: int, default_after_days: int) -> int:
    """The thresholds: the days past due from which a state holds, unless a graver one does
    (late from the first day, delinquent past the grace days, default at `default_after_days`).
    The refresh SQL mirrors them in its state and `since` (tests/delinquency/
    test_sql_matches_engine.py keeps the two in step)."""
    if state == DelinquencyState.CURRENT:
        return 0
    if state == DelinquencyState.LATE:
        return 1
    if state == DelinquencyState.DELINQUENT:
        return grace_days + 1
    return default_after_days


# From the gravest state down: the first whose threshold is reached is the state.
_GRAVEST_FIRST = (DelinquencyState.DEFAULT, DelinquencyState.DELINQUENT, DelinquencyState.LATE)


def state(days_past_due: int, grace_days: int, default_after_days: int) -> DelinquencyState:
    if days_past_due <= 0:
        return DelinquencyState.CURRENT
    for graver in _GRAVEST_FIRST:
        if days_past_due >= first_day(graver, grace_days, default_after_days):
            return graver
    return DelinquencyState.CURRENT  # unreachable: late holds from the first day


def since(
    state: DelinquencyState,
    oldest_unpaid_due_date: date | None,
    as_of: date,
    grace_days: int,
    default_after_days: int,
) -> date:
    """The day a plan entered `state` (when it just did): its threshold counted from the
    oldest due date still owing; for `current`, the day it was found paid up (`as_of`)."""
    if state == DelinquencyState.CURRENT or oldest_unpaid_due_date is None:
        return as_of
    return oldest_unpaid_due_date + timedelta(days=first_day(state, grace_days, default_after_days))


def days_past_due(oldest_unpaid_due_date: date | None, as_of: date) -> int:
    """Days since the oldest installment still owing fell due; 0 when none is owing or due."""
    if oldest_unpaid_due_date is None:
        return 0
    return max(0, (as_of - oldest_unpaid_due_date).days)


@dataclass(frozen=True, slots=True)
class DelinquencyStatus:
    state: DelinquencyState
    days_past_due: int
    bucket: str


def assess(
    oldest_unpaid_due_date: date | None, as_of: date, grace_days: int, default_after_days: int
) -> DelinquencyStatus:
    """State and bucket as of `as_of`; the caller finds the oldest installment above tolerance."""
    days = days_past_due(oldest_unpaid_due_date, as_of)
    return DelinquencyStatus(state(days, grace_days, default_after_days), days, bucket(days))


@dataclass(frozen=True, slots=True)
class DelinquencyPolicy:
    """A product's delinquency thresholds: `grace_days` late before delinquent, default at
    `default_after_days`; an installment owing at most `past_due_tolerance` counts as paid."""

    grace_days: int
    default_after_days: int
    past_due_tolerance: int

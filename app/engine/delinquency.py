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


def state(days_past_due: int, grace_days: int, default_after_days: int) -> DelinquencyState:
    if days_past_due <= 0:
        return DelinquencyState.CURRENT
    if days_past_due >= default_after_days:
        return DelinquencyState.DEFAULT
    if days_past_due <= grace_days:
        return DelinquencyState.LATE
    return DelinquencyState.DELINQUENT


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


def state_since(
    state: DelinquencyState, oldest_unpaid_due_date: date, grace_days: int, default_after_days: int
) -> date:
    """The first day of `state` (not `current`) for a plan whose oldest unpaid installment fell
    due on `oldest_unpaid_due_date`: late the day after, delinquent past the grace days, in
    default at `default_after_days`."""
    if state is DelinquencyState.LATE:
        return oldest_unpaid_due_date + timedelta(days=1)
    if state is DelinquencyState.DELINQUENT:
        return oldest_unpaid_due_date + timedelta(days=grace_days + 1)
    return oldest_unpaid_due_date + timedelta(days=default_after_days)


@dataclass(frozen=True, slots=True)
class DelinquencyPolicy:
    """A product's delinquency thresholds: `grace_days` late before delinquent, default at
    `default_after_days`; an installment owing at most `past_due_tolerance` counts as paid."""

    grace_days: int
    default_after_days: int
    past_due_tolerance: int

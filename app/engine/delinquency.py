"""Delinquency as of a date: days past due, state and bucket. Pure."""

from __future__ import annotations

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

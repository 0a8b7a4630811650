from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.engine.delinquency import (
    DelinquencyState,
    DelinquencyStatus,
    assess,
    bucket,
    days_past_due,
    state,
)
from app.engine.installments import InstallmentStatus, installment_status

DUE = date(2027, 3, 1)
GRACE = 10
DEFAULT_AFTER = 90

CURRENT = DelinquencyState.CURRENT
LATE = DelinquencyState.LATE
DELINQUENT = DelinquencyState.DELINQUENT
DEFAULT = DelinquencyState.DEFAULT


def test_days_past_due() -> None:
    assert days_past_due(None, DUE) == 0
    assert days_past_due(DUE, DUE - timedelta(days=5)) == 0  # not yet due
    assert days_past_due(DUE, DUE) == 0
    assert days_past_due(DUE, date(2027, 3, 2)) == 1
    assert days_past_due(DUE, date(2027, 5, 30)) == 90  # 30 (Mar) + 30 (Apr) + 30 (May)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, CURRENT),
        (1, LATE),
        (GRACE, LATE),
        (GRACE + 1, DELINQUENT),
        (DEFAULT_AFTER - 1, DELINQUENT),
        (DEFAULT_AFTER, DEFAULT),
        (DEFAULT_AFTER + 200, DEFAULT),
    ],
)
def test_assess_state_at_the_boundaries(days: int, expected: DelinquencyState) -> None:
    status = assess(DUE, DUE + timedelta(days=days), GRACE, DEFAULT_AFTER)
    assert status.state is expected
    assert status.days_past_due == days
    assert status.state is state(days, GRACE, DEFAULT_AFTER)


def test_without_grace_one_day_late_is_delinquent() -> None:
    assert assess(DUE, DUE + timedelta(days=1), 0, DEFAULT_AFTER).state is DELINQUENT


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91+"),
        (400, "91+"),
    ],
)
def test_buckets(days: int, expected: str) -> None:
    assert bucket(days) == expected
    assert assess(DUE, DUE + timedelta(days=days), GRACE, DEFAULT_AFTER).bucket == expected


def test_nothing_owing_or_not_yet_due_is_current() -> None:
    expected = DelinquencyStatus(CURRENT, 0, "current")
    assert assess(None, DUE, GRACE, DEFAULT_AFTER) == expected
    assert assess(DUE + timedelta(days=14), DUE, GRACE, DEFAULT_AFTER) == expected


@pytest.mark.parametrize(
    ("as_of", "owed", "paid", "tolerance", "expected"),
    [
        # Paid: nothing owed, or no more than the tolerance, whatever the date.
        (date(2027, 2, 1), 0, 2500, 0, InstallmentStatus.PAID),
        (date(2027, 6, 1), 0, 2500, 0, InstallmentStatus.PAID),
        (date(2027, 6, 1), 5, 2495, 5, InstallmentStatus.PAID),
        # One unit above the tolerance is still owed: overdue after the due date.
        (date(2027, 3, 2), 6, 2494, 5, InstallmentStatus.OVERDUE),
        (date(2027, 3, 2), 2500, 0, 0, InstallmentStatus.OVERDUE),
        (date(2027, 3, 2), 1000, 1500, 0, InstallmentStatus.OVERDUE),
        # On or before the due date, a part payment shows.
        (DUE, 1000, 1500, 0, InstallmentStatus.PARTIALLY_PAID),
        (date(2027, 2, 1), 1000, 1500, 0, InstallmentStatus.PARTIALLY_PAID),
        (DUE, 2500, 0, 0, InstallmentStatus.DUE),
        (date(2027, 2, 28), 2500, 0, 0, InstallmentStatus.SCHEDULED),
    ],
)
def test_installment_status(
    as_of: date, owed: int, paid: int, tolerance: int, expected: InstallmentStatus
) -> None:
    got = installment_status(due_date=DUE, as_of=as_of, owed=owed, paid=paid, tolerance=tolerance)
    assert got is expected

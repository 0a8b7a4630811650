"""An installment's status as of a date, from what it still owes and what was paid on it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class InstallmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    DUE = "due"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"


def installment_status(
    *, due_date: date, as_of: date, owed: int, paid: int, tolerance: int = 0
) -> InstallmentStatus:
    """`owed` is what is still owed including late fees; `paid` what has been paid on it.

    Overdue wins over partially paid: a part payment after the due date does not cure lateness.
    """
    if owed <= tolerance:
        return InstallmentStatus.PAID
    if due_date < as_of:
        return InstallmentStatus.OVERDUE
    if paid > 0:
        return InstallmentStatus.PARTIALLY_PAID
    if due_date == as_of:
        return InstallmentStatus.DUE
    return InstallmentStatus.SCHEDULED

"""A plan's status. Pure."""

from __future__ import annotations

from enum import StrEnum


class PlanStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAID_OFF = "paid_off"
    DEFAULTED = "defaulted"
    CHARGED_OFF = "charged_off"
    CANCELLED = "cancelled"


def ready_to_activate(*, requires_agreement: bool, accepted: bool, deposit_paid: bool) -> bool:
    """A pending plan becomes active once its deposit is paid and, when asked, its agreement
    accepted."""
    return deposit_paid and (accepted or not requires_agreement)

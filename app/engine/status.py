"""A plan's status: its values, how they are classified, and how money and delinquency move it.
Pure: the services and the set-based SQL take their sets and transitions from here (the SQL
receives the sets as array parameters, `values`)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from app.engine.delinquency import DelinquencyState


class PlanStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAID_OFF = "paid_off"
    DEFAULTED = "defaulted"
    CHARGED_OFF = "charged_off"
    CANCELLED = "cancelled"


class PlanEvent(StrEnum):
    """The events a change of status writes (`plan.defaulted` and `plan.cured` carry the days
    past due; the others nothing)."""

    ACTIVATED = "plan.activated"
    PAID_OFF = "plan.paid_off"
    REOPENED = "plan.reopened"
    DEFAULTED = "plan.defaulted"
    CURED = "plan.cured"


# What the sweep brings to a date: a plan that may still owe, or be owed by, the schedule.
OPEN: frozenset[PlanStatus] = frozenset(
    {PlanStatus.PENDING, PlanStatus.ACTIVE, PlanStatus.DEFAULTED}
)
# What is left alone: nothing more falls due on these.
CLOSED: frozenset[PlanStatus] = frozenset(PlanStatus) - OPEN
# What eligibility counts as a customer's open plans (a defaulted one counts as bad standing).
COUNTED_OPEN: frozenset[PlanStatus] = frozenset({PlanStatus.PENDING, PlanStatus.ACTIVE})
# A plan in bad standing: by its status, or by its delinquency.
BAD_STANDING_STATUSES: frozenset[PlanStatus] = frozenset(
    {PlanStatus.DEFAULTED, PlanStatus.CHARGED_OFF}
)
BAD_STANDING_STATES: frozenset[DelinquencyState] = frozenset(
    {DelinquencyState.DELINQUENT, DelinquencyState.DEFAULT}
)
# What moves a plan between active and defaulted: its delinquency in one of these states.
DEFAULT_STATES: frozenset[DelinquencyState] = frozenset({DelinquencyState.DEFAULT})
# What the money decides on: paying everything settles these, and nothing else.
SETTLES: frozenset[PlanStatus] = frozenset(
    {PlanStatus.PENDING, PlanStatus.ACTIVE, PlanStatus.DEFAULTED}
)


E = TypeVar("E", bound=StrEnum)


def values(members: Iterable[E]) -> list[str]:
    """The members' values in their enum's order (for an SQL array parameter, or a text that
    must not change from one run to the next)."""
    chosen = set(members)
    if not chosen:
        return []
    kind = type(next(iter(chosen)))
    return [m.value for m in kind if m in chosen]


def ready_to_activate(*, requires_agreement: bool, accepted: bool, deposit_paid: bool) -> bool:
    """A pending plan becomes active once its deposit is paid and, when asked, its agreement
    accepted."""
    return deposit_paid and (accepted or not requires_agreement)


def delinquency_status(status: PlanStatus, delinquency: DelinquencyState) -> PlanStatus:
    """active -> defaulted when the delinquency reaches default; defaulted -> active (cured)
    when it no longer is. The refresh SQL runs this rule over a batch (tested to agree)."""
    if status == PlanStatus.ACTIVE and delinquency in DEFAULT_STATES:
        return PlanStatus.DEFAULTED
    if status == PlanStatus.DEFAULTED and delinquency not in DEFAULT_STATES:
        return PlanStatus.ACTIVE
    return status


def next_status(
    status: PlanStatus,
    *,
    requires_agreement: bool,
    accepted: bool,
    deposit_paid: bool,
    everything_paid: bool,
    delinquency: DelinquencyState,
) -> tuple[PlanStatus, list[PlanEvent]]:
    """The status these facts give a plan, and the events of the steps taken, in order:
    pending -> active (activation), then paid_off when everything is paid or back to active
    when something is owed again (reopen), then active <-> defaulted by the delinquency."""
    events: list[PlanEvent] = []
    if status == PlanStatus.PENDING and ready_to_activate(
        requires_agreement=requires_agreement, accepted=accepted, deposit_paid=deposit_paid
    ):
        status = PlanStatus.ACTIVE
        events.append(PlanEvent.ACTIVATED)
    if everything_paid and status in SETTLES:
        status = PlanStatus.PAID_OFF
        events.append(PlanEvent.PAID_OFF)
    elif not everything_paid and status == PlanStatus.PAID_OFF:
        status = PlanStatus.ACTIVE
        events.append(PlanEvent.REOPENED)
    moved = delinquency_status(status, delinquency)
    if moved != status:
        events.append(PlanEvent.DEFAULTED if moved == PlanStatus.DEFAULTED else PlanEvent.CURED)
        status = moved
    return status, events


def event_data(event: PlanEvent, days_past_due: int) -> dict[str, int]:
    """What an event of a change of status carries: the days past due when delinquency made
    it (as the refresh SQL writes them), else nothing."""
    if event in (PlanEvent.DEFAULTED, PlanEvent.CURED):
        return {"days_past_due": days_past_due}
    return {}

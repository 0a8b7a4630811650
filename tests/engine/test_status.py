from __future__ import annotations

import uuid
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.allocation import Component, OpenLine, Portion, allocate, allocate_held
from app.engine.delinquency import DelinquencyState
from app.engine.status import (
    BAD_STANDING_STATES,
    BAD_STANDING_STATUSES,
    CLOSED,
    COUNTED_OPEN,
    OPEN,
    PlanEvent,
    PlanStatus,
    delinquency_status,
    event_data,
    next_status,
    ready_to_activate,
    values,
)

PENDING, ACTIVE, PAID_OFF = PlanStatus.PENDING, PlanStatus.ACTIVE, PlanStatus.PAID_OFF
DEFAULTED, CHARGED_OFF, CANCELLED = (
    PlanStatus.DEFAULTED,
    PlanStatus.CHARGED_OFF,
    PlanStatus.CANCELLED,
)
CURRENT, LATE = DelinquencyState.CURRENT, DelinquencyState.LATE
DELINQUENT, DEFAULT = DelinquencyState.DELINQUENT, DelinquencyState.DEFAULT


def test_every_status_is_open_or_closed() -> None:
    assert frozenset(PlanStatus) == OPEN | CLOSED
    assert not OPEN & CLOSED
    assert COUNTED_OPEN <= OPEN
    assert {CHARGED_OFF} == BAD_STANDING_STATUSES - OPEN


def test_the_sets_as_sql_receives_them() -> None:
    assert values(OPEN) == ["pending", "active", "defaulted"]
    assert values(COUNTED_OPEN) == ["pending", "active"]
    assert values(BAD_STANDING_STATUSES) == ["defaulted", "charged_off"]
    assert values(BAD_STANDING_STATES) == ["delinquent", "default"]
    assert values(frozenset[PlanStatus]()) == []


@pytest.mark.parametrize(
    ("requires_agreement", "accepted", "deposit_paid", "ready"),
    [
        (False, False, True, True),
        (False, False, False, False),
        (True, False, True, False),
        (True, True, True, True),
        (True, True, False, False),
    ],
)
def test_ready_to_activate(
    requires_agreement: bool, accepted: bool, deposit_paid: bool, ready: bool
) -> None:
    assert (
        ready_to_activate(
            requires_agreement=requires_agreement, accepted=accepted, deposit_paid=deposit_paid
        )
        is ready
    )


def _next(
    status: PlanStatus,
    *,
    requires_agreement: bool = False,
    accepted: bool = False,
    deposit_paid: bool = True,
    everything_paid: bool = False,
    delinquency: DelinquencyState = CURRENT,
) -> tuple[PlanStatus, list[PlanEvent]]:
    return next_status(
        status,
        requires_agreement=requires_agreement,
        accepted=accepted,
        deposit_paid=deposit_paid,
        everything_paid=everything_paid,
        delinquency=delinquency,
    )


def test_activation() -> None:
    assert _next(PENDING) == (ACTIVE, [PlanEvent.ACTIVATED])
    assert _next(PENDING, deposit_paid=False) == (PENDING, [])
    assert _next(PENDING, requires_agreement=True) == (PENDING, [])
    assert _next(PENDING, requires_agreement=True, accepted=True) == (
        ACTIVE,
        [PlanEvent.ACTIVATED],
    )


def test_activation_in_default_defaults() -> None:
    assert _next(PENDING, delinquency=DEFAULT) == (
        DEFAULTED,
        [PlanEvent.ACTIVATED, PlanEvent.DEFAULTED],
    )
    # A pending plan stays pending, whatever its delinquency.
    assert _next(PENDING, deposit_paid=False, delinquency=DEFAULT) == (PENDING, [])


def test_paying_everything_pays_off() -> None:
    assert _next(ACTIVE, everything_paid=True) == (PAID_OFF, [PlanEvent.PAID_OFF])
    assert _next(DEFAULTED, everything_paid=True) == (PAID_OFF, [PlanEvent.PAID_OFF])
    assert _next(PENDING, everything_paid=True) == (
        PAID_OFF,
        [PlanEvent.ACTIVATED, PlanEvent.PAID_OFF],
    )
    assert _next(PENDING, requires_agreement=True, everything_paid=True) == (
        PAID_OFF,
        [PlanEvent.PAID_OFF],
    )
    assert _next(PAID_OFF, everything_paid=True) == (PAID_OFF, [])


def test_reopen() -> None:
    assert _next(PAID_OFF) == (ACTIVE, [PlanEvent.REOPENED])
    assert _next(PAID_OFF, delinquency=DEFAULT) == (
        DEFAULTED,
        [PlanEvent.REOPENED, PlanEvent.DEFAULTED],
    )


def test_default_and_cure() -> None:
    assert _next(ACTIVE, delinquency=DEFAULT) == (DEFAULTED, [PlanEvent.DEFAULTED])
    assert _next(ACTIVE, delinquency=DELINQUENT) == (ACTIVE, [])
    assert _next(DEFAULTED, delinquency=DEFAULT) == (DEFAULTED, [])
    assert _next(DEFAULTED, delinquency=LATE) == (ACTIVE, [PlanEvent.CURED])


@pytest.mark.parametrize("status", [CHARGED_OFF, CANCELLED])
@pytest.mark.parametrize("everything_paid", [False, True])
@pytest.mark.parametrize("delinquency", list(DelinquencyState))
def test_closed_by_hand_stays(
    status: PlanStatus, everything_paid: bool, delinquency: DelinquencyState
) -> None:
    assert _next(status, everything_paid=everything_paid, delinquency=delinquency) == (status, [])


@given(
    status=st.sampled_from(PlanStatus),
    requires_agreement=st.booleans(),
    accepted=st.booleans(),
    deposit_paid=st.booleans(),
    everything_paid=st.booleans(),
    delinquency=st.sampled_from(DelinquencyState),
)
def test_next_status_is_settled(
    status: PlanStatus,
    requires_agreement: bool,
    accepted: bool,
    deposit_paid: bool,
    everything_paid: bool,
    delinquency: DelinquencyState,
) -> None:
    """Applied again to its own answer, nothing moves: one call takes every step; and the
    delinquency rule alone (what the refresh SQL runs) agrees with it."""
    step = partial(
        next_status,
        requires_agreement=requires_agreement,
        accepted=accepted,
        deposit_paid=deposit_paid,
        everything_paid=everything_paid,
        delinquency=delinquency,
    )
    moved, events = step(status)
    assert step(moved) == (moved, [])
    assert delinquency_status(moved, delinquency) == moved
    assert len(events) == len(set(events))


def test_event_data() -> None:
    assert event_data(PlanEvent.DEFAULTED, 91) == {"days_past_due": 91}
    assert event_data(PlanEvent.CURED, 0) == {"days_past_due": 0}
    assert event_data(PlanEvent.ACTIVATED, 91) == {}
    assert event_data(PlanEvent.REOPENED, 91) == {}


def _line(sequence: int, principal: int, late_fee: int = 0) -> OpenLine:
    return OpenLine(uuid.uuid4(), sequence, late_fee, 0, 0, principal)


def test_held_credit_pays_oldest_first_by_source() -> None:
    lines = [_line(1, 1000), _line(0, 500, late_fee=100)]
    a, b = uuid.uuid4(), uuid.uuid4()
    spent = allocate_held(lines, [(a, 300), (b, 1000), (uuid.uuid4(), 50)])
    deposit, first = lines[1].ref, lines[0].ref
    assert spent == [
        (
            a,
            (Portion(deposit, Component.LATE_FEE, 100), Portion(deposit, Component.PRINCIPAL, 200)),
        ),
        (b, (Portion(deposit, Component.PRINCIPAL, 300), Portion(first, Component.PRINCIPAL, 700))),
        (spent[2][0], (Portion(first, Component.PRINCIPAL, 50),)),
    ]


def test_held_credit_beyond_what_is_owed_stays() -> None:
    lines = [_line(0, 500)]
    a, b = uuid.uuid4(), uuid.uuid4()
    assert allocate_held(lines, [(a, 400), (b, 400)]) == [
        (a, (Portion(lines[0].ref, Component.PRINCIPAL, 400),)),
        (b, (Portion(lines[0].ref, Component.PRINCIPAL, 100),)),
    ]
    assert allocate_held(lines, []) == []


@given(
    owed=st.lists(st.integers(0, 5000), min_size=1, max_size=5),
    held=st.lists(st.integers(1, 5000), min_size=1, max_size=4),
)
def test_held_credit_is_allocate_split_by_source(owed: list[int], held: list[int]) -> None:
    lines = [_line(n, amount) for n, amount in enumerate(owed)]
    sources = [(uuid.uuid4(), amount) for amount in held]
    spent = allocate_held(lines, sources)
    by_source = {source: sum(p.amount for p in portions) for source, portions in spent}
    for source, amount in sources:
        assert by_source.get(source, 0) <= amount
    total = sum(by_source.values())
    assert total == min(sum(owed), sum(held))
    if total:
        paid: dict[tuple[uuid.UUID, Component], int] = {}
        for _, portions in spent:
            for p in portions:
                paid[(p.ref, p.component)] = paid.get((p.ref, p.component), 0) + p.amount
        whole = allocate(lines, sum(held)).portions
        assert paid == {(p.ref, p.component): p.amount for p in whole}

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.allocation import AllocationResult as Allocation
from app.engine.allocation import Component, OpenLine, Portion, allocate

FAST = settings(max_examples=300, deadline=None)
ORDER = (Component.LATE_FEE, Component.FEE, Component.INTEREST, Component.PRINCIPAL)

DEPOSIT = OpenLine(uuid.uuid4(), 0, late_fee=0, fee=0, interest=0, principal=2500)
FIRST = OpenLine(uuid.uuid4(), 1, late_fee=1000, fee=300, interest=150, principal=2500)
SECOND = OpenLine(uuid.uuid4(), 2, late_fee=0, fee=0, interest=120, principal=2500)
THIRD = OpenLine(uuid.uuid4(), 3, late_fee=0, fee=0, interest=90, principal=2500)
PLAN = (DEPOSIT, FIRST, SECOND, THIRD)


def remaining(line: OpenLine, component: Component) -> int:
    value: int = getattr(line, component.value)
    return value


def test_owed_sums_the_components() -> None:
    # 1000 + 300 + 150 + 2500
    assert FIRST.owed == 3950


def test_deposit_first_then_the_oldest_installment_component_by_component() -> None:
    # 80.00: deposit 25.00 (55.00 left); installment 1: late fee 10.00 (45.00), fee 3.00 (42.00),
    # interest 1.50 (40.50), principal 25.00 (15.50); installment 2: interest 1.20 (14.30), and
    # 14.30 of its 25.00 principal. Installment 3 gets nothing.
    result = allocate(PLAN, 8000)
    assert result.portions == (
        Portion(DEPOSIT.ref, Component.PRINCIPAL, 2500),
        Portion(FIRST.ref, Component.LATE_FEE, 1000),
        Portion(FIRST.ref, Component.FEE, 300),
        Portion(FIRST.ref, Component.INTEREST, 150),
        Portion(FIRST.ref, Component.PRINCIPAL, 2500),
        Portion(SECOND.ref, Component.INTEREST, 120),
        Portion(SECOND.ref, Component.PRINCIPAL, 1430),
    )
    assert (result.applied, result.credit) == (8000, 0)


def test_the_order_of_the_input_does_not_matter() -> None:
    assert allocate(tuple(reversed(PLAN)), 8000) == allocate(PLAN, 8000)


def test_part_of_one_component() -> None:
    # 6.00 against a 10.00 late fee: all of it to the late fee, 4.00 of it still owed.
    assert allocate([FIRST, SECOND], 600) == Allocation(
        (Portion(FIRST.ref, Component.LATE_FEE, 600),), 0
    )


def test_prepayment_runs_into_the_following_installments() -> None:
    # Installment 1 owes 39.50; 70.00 pays it (30.50 left), then installment 2's interest 1.20
    # and principal 25.00 (4.30 left), then installment 3's interest 0.90 and 3.40 of principal.
    result = allocate([FIRST, SECOND, THIRD], 7000)
    assert result.portions[-4:] == (
        Portion(SECOND.ref, Component.INTEREST, 120),
        Portion(SECOND.ref, Component.PRINCIPAL, 2500),
        Portion(THIRD.ref, Component.INTEREST, 90),
        Portion(THIRD.ref, Component.PRINCIPAL, 340),
    )
    assert (result.applied, result.credit) == (7000, 0)


def test_money_beyond_the_whole_plan_is_credit() -> None:
    # The plan owes 25.00 + 39.50 + 26.20 + 25.90 = 116.60; 120.00 leaves 3.40 of credit.
    result = allocate(PLAN, 12000)
    assert (result.applied, result.credit) == (11660, 340)
    assert len(result.portions) == 9


def test_exact_payoff_leaves_no_credit() -> None:
    result = allocate(PLAN, 11660)
    assert (result.applied, result.credit) == (11660, 0)


def test_lines_with_nothing_owed_are_skipped_and_no_portion_is_zero() -> None:
    paid = OpenLine(uuid.uuid4(), 1, late_fee=0, fee=0, interest=0, principal=0)
    rest = OpenLine(uuid.uuid4(), 2, late_fee=0, fee=0, interest=0, principal=500)
    assert allocate([paid, rest], 300) == Allocation(
        (Portion(rest.ref, Component.PRINCIPAL, 300),), 0
    )


def test_nothing_open_is_all_credit() -> None:
    assert allocate([], 100) == Allocation((), 100)


@pytest.mark.parametrize("amount", [0, -1])
def test_a_payment_must_be_positive(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        allocate(PLAN, amount)


def test_a_negative_balance_is_refused() -> None:
    bad = OpenLine(uuid.uuid4(), 1, late_fee=0, fee=-1, interest=0, principal=100)
    with pytest.raises(ValueError, match="negative"):
        allocate([bad], 100)


@pytest.mark.parametrize(
    "twin",
    [
        OpenLine(FIRST.ref, 5, late_fee=0, fee=0, interest=0, principal=1),
        OpenLine(uuid.uuid4(), 1, late_fee=0, fee=0, interest=0, principal=1),
    ],
)
def test_a_line_given_twice_is_refused(twin: OpenLine) -> None:
    with pytest.raises(ValueError, match="twice"):
        allocate([FIRST, twin], 100)


owed = st.integers(0, 5000) | st.just(0)


@st.composite
def plans(draw: st.DrawFn) -> list[OpenLine]:
    sequences = draw(st.lists(st.integers(0, 30), max_size=8, unique=True))
    return [
        OpenLine(uuid.uuid4(), seq, draw(owed), draw(owed), draw(owed), draw(owed))
        for seq in sequences
    ]


@FAST
@given(plans(), st.integers(1, 50_000))
def test_money_is_conserved_and_never_more_than_owed(lines: list[OpenLine], amount: int) -> None:
    result = allocate(lines, amount)
    assert result.applied + result.credit == amount
    assert result.credit >= 0
    assert result.applied == min(amount, sum(line.owed for line in lines))
    by_ref = {line.ref: line for line in lines}
    seen: set[tuple[uuid.UUID, Component]] = set()
    for portion in result.portions:
        assert portion.amount > 0
        assert (portion.ref, portion.component) not in seen
        seen.add((portion.ref, portion.component))
        assert portion.amount <= remaining(by_ref[portion.ref], portion.component)


@FAST
@given(plans(), st.integers(1, 50_000))
def test_nothing_is_paid_ahead_of_anything_still_owed(lines: list[OpenLine], amount: int) -> None:
    result = allocate(lines, amount)
    paid = {(p.ref, p.component): p.amount for p in result.portions}
    # What is still owed after the payment, in the order it must be paid.
    left = [
        (line.ref, component, remaining(line, component) - paid.get((line.ref, component), 0))
        for line in sorted(lines, key=lambda line: line.sequence)
        for component in ORDER
    ]
    first_open = next((i for i, (_, _, rest) in enumerate(left) if rest), len(left))
    position = {(ref, component): i for i, (ref, component, _) in enumerate(left)}
    # Only the first slot still owing may have been part paid; everything after it, nothing.
    assert all(position[(p.ref, p.component)] <= first_open for p in result.portions)
    # Portions come out in paying order.
    order = [position[(p.ref, p.component)] for p in result.portions]
    assert order == sorted(order)
    if first_open < len(left):
        assert result.credit == 0

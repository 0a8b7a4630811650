from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.late_fees import FeeContext, fee_for_step, steps_reached
from app.engine.late_fees import LateFeeRules as LateFeePolicy

FAST = settings(max_examples=300, deadline=None)

# Afterpay (US): 10.00 late, 7.00 more if still unpaid 7 days later, at most 25 % of the order
# or 68.00, whichever is lower.
AFTERPAY = LateFeePolicy(
    grace_days=0,
    first_amount=1000,
    second_after_days=7,
    second_amount=700,
    cap_per_plan_percent=Decimal(25),
    cap_per_plan_amount=6800,
)
DUE = date(2027, 1, 1)


def ctx(
    overdue: int = 2500,
    plan_amount: int = 100_000,
    on_installment: int = 0,
    on_plan: int = 0,
    on_customer_12_months: int = 0,
) -> FeeContext:
    return FeeContext(overdue, plan_amount, on_installment, on_plan, on_customer_12_months)


@pytest.mark.parametrize(
    ("as_of", "steps"),
    [
        (date(2026, 12, 31), ()),
        (date(2027, 1, 1), ()),
        (date(2027, 1, 2), (1,)),  # 1 day late > grace 0
        (date(2027, 1, 8), (1,)),  # 7 days late, not past 0 + 7
        (date(2027, 1, 9), (1, 2)),  # 8 days late > 0 + 7
        (date(2027, 6, 1), (1, 2)),
    ],
)
def test_afterpay_steps(as_of: date, steps: tuple[int, ...]) -> None:
    assert steps_reached(AFTERPAY, DUE, as_of) == steps


@pytest.mark.parametrize(
    ("as_of", "steps"),
    [
        (date(2027, 1, 4), ()),  # 3 days late, within grace 3
        (date(2027, 1, 5), (1,)),  # 4 > 3
        (date(2027, 1, 11), (1,)),  # 10, not past 3 + 7
        (date(2027, 1, 12), (1, 2)),  # 11 > 10
    ],
)
def test_steps_with_grace(as_of: date, steps: tuple[int, ...]) -> None:
    policy = LateFeePolicy(grace_days=3, first_amount=500, second_after_days=7, second_amount=500)
    assert steps_reached(policy, DUE, as_of) == steps


def test_without_a_second_fee_only_step_one() -> None:
    policy = LateFeePolicy(grace_days=0, first_amount=500)
    assert steps_reached(policy, DUE, date(2027, 1, 2)) == (1,)
    assert steps_reached(policy, DUE, date(2028, 1, 1)) == (1,)


def test_afterpay_small_order_the_plan_percent_binds() -> None:
    # 40.00 order: 25 % = 10.00 < 68.00. The first fee takes all of it; the second nothing.
    assert fee_for_step(AFTERPAY, 1, ctx(overdue=1000, plan_amount=4000)) == 1000
    assert fee_for_step(AFTERPAY, 2, ctx(overdue=1000, plan_amount=4000, on_plan=1000)) == 0


def test_afterpay_mid_order_fills_up_to_the_percent() -> None:
    # 100.00 order: cap 25.00. Installment 1: 10.00, then 7.00 (17.00 on the plan);
    # installment 2: 10.00 cut to the 8.00 left; nothing after that.
    plan = 10_000
    assert fee_for_step(AFTERPAY, 1, ctx(plan_amount=plan)) == 1000
    assert (
        fee_for_step(AFTERPAY, 2, ctx(plan_amount=plan, on_installment=1000, on_plan=1000)) == 700
    )
    assert fee_for_step(AFTERPAY, 1, ctx(plan_amount=plan, on_plan=1700)) == 800
    assert fee_for_step(AFTERPAY, 2, ctx(plan_amount=plan, on_installment=800, on_plan=2500)) == 0


@pytest.mark.parametrize(
    ("plan_amount", "cap"),
    [
        (20_000, 5000),  # 25 % of 200.00 = 50.00 < 68.00
        (27_200, 6800),  # 25 % of 272.00 = 68.00 = 68.00
        (40_000, 6800),  # 25 % of 400.00 = 100.00 > 68.00: the amount is lower
    ],
)
def test_plan_cap_is_the_lower_of_percent_and_amount(plan_amount: int, cap: int) -> None:
    assert AFTERPAY.plan_cap(plan_amount) == cap
    # With 1.00 of room below the cap, a 10.00 fee is cut to 1.00.
    assert fee_for_step(AFTERPAY, 1, ctx(plan_amount=plan_amount, on_plan=cap - 100)) == 100


def test_cap_per_installment_alone() -> None:
    # Cap 15.00: 10.00, then 7.00 cut to the 5.00 left.
    policy = LateFeePolicy(
        grace_days=0,
        first_amount=1000,
        second_after_days=7,
        second_amount=700,
        cap_per_installment=1500,
    )
    assert fee_for_step(policy, 1, ctx()) == 1000
    assert fee_for_step(policy, 2, ctx(on_installment=1000, on_plan=5000)) == 500
    # Other installments' fees do not count against this one's cap.
    assert fee_for_step(policy, 1, ctx(on_installment=0, on_plan=99_999)) == 1000


def test_cap_per_plan_percent_alone_rounds_half_up() -> None:
    # 10 % of 123.45 = 12.345 -> 12.35 (half-up); 10.00 already assessed leaves 2.35.
    policy = LateFeePolicy(grace_days=0, first_amount=1000, cap_per_plan_percent=Decimal(10))
    assert policy.plan_cap(12_345) == 1235
    assert fee_for_step(policy, 1, ctx(plan_amount=12_345, on_plan=1000)) == 235


def test_cap_per_plan_amount_alone() -> None:
    policy = LateFeePolicy(grace_days=0, first_amount=1000, cap_per_plan_amount=2500)
    assert policy.plan_cap(10**9) == 2500
    assert fee_for_step(policy, 1, ctx(on_plan=2000)) == 500
    assert fee_for_step(policy, 1, ctx(on_plan=2500)) == 0


def test_cap_per_customer_alone() -> None:
    # 20.00 a year across plans: 15.00 already this year leaves 5.00.
    policy = LateFeePolicy(grace_days=0, first_amount=1000, cap_per_customer_12_months=2000)
    assert fee_for_step(policy, 1, ctx(on_customer_12_months=1500)) == 500
    # Past the cap (the product lowered it since): nothing, never negative.
    assert fee_for_step(policy, 1, ctx(on_customer_12_months=2500)) == 0


def test_no_caps_charges_the_fee() -> None:
    policy = LateFeePolicy(grace_days=0, first_amount=1000)
    assert policy.plan_cap(10_000) is None
    assert fee_for_step(policy, 1, ctx(on_installment=10**6, on_plan=10**6)) == 1000


ALL_CAPS = LateFeePolicy(
    grace_days=0,
    first_amount=1000,
    cap_per_installment=1500,
    cap_per_plan_percent=Decimal(25),
    cap_per_plan_amount=6800,
    cap_per_customer_12_months=3000,
)


@pytest.mark.parametrize(
    ("context", "fee"),
    [
        # Room: installment 15.00 - 0, plan 25.00 - 0 (25 % of 100.00), customer 30.00 - 0.
        (ctx(plan_amount=10_000), 1000),
        # Installment room 15.00 - 12.00 = 3.00 is the tightest.
        (
            ctx(plan_amount=10_000, on_installment=1200, on_plan=1200, on_customer_12_months=1200),
            300,
        ),
        # Plan room 25.00 - 21.00 = 4.00 (installment 15.00 - 0, customer 30.00 - 21.00).
        (ctx(plan_amount=10_000, on_plan=2100, on_customer_12_months=2100), 400),
        # Plan 68.00 (25 % of 1,000.00 is higher) - 62.00 = 6.00; customer has 7.00.
        (ctx(plan_amount=100_000, on_plan=6200, on_customer_12_months=2300), 600),
        # Customer room 30.00 - 28.00 = 2.00 (another plan used most of it).
        (ctx(plan_amount=10_000, on_plan=500, on_customer_12_months=2800), 200),
    ],
)
def test_all_caps_together_the_tightest_wins(context: FeeContext, fee: int) -> None:
    assert fee_for_step(ALL_CAPS, 1, context) == fee


@pytest.mark.parametrize(
    ("overdue", "fee"),
    [
        (2510, 126),  # 5 % of 25.10 = 1.255 -> 1.26
        (2509, 125),  # 1.2545 -> 1.25
        (30, 2),  # 0.015 -> 0.02
        (29, 1),  # 0.0145 -> 0.01
        (9, 0),  # 0.0045 -> 0.00
    ],
)
def test_percent_fee_rounds_half_up(overdue: int, fee: int) -> None:
    policy = LateFeePolicy(grace_days=0, first_percent=Decimal(5))
    assert fee_for_step(policy, 1, ctx(overdue=overdue)) == fee


def test_percent_second_fee() -> None:
    # 2.5 % of 40.10 = 1.0025 -> 1.00
    policy = LateFeePolicy(
        grace_days=0, first_amount=500, second_after_days=14, second_percent=Decimal("2.5")
    )
    assert fee_for_step(policy, 2, ctx(overdue=4010)) == 100


@pytest.mark.parametrize("policy", [AFTERPAY, LateFeePolicy(0, first_percent=Decimal(5))])
def test_nothing_overdue_costs_nothing(policy: LateFeePolicy) -> None:
    assert fee_for_step(policy, 1, ctx(overdue=0)) == 0


@pytest.mark.parametrize(("policy", "step"), [(LateFeePolicy(0, first_amount=1), 2), (AFTERPAY, 3)])
def test_a_step_the_policy_lacks_is_refused(policy: LateFeePolicy, step: int) -> None:
    with pytest.raises(ValueError, match="no late fee step"):
        fee_for_step(policy, step, ctx())


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"first_amount": 1, "first_percent": Decimal(1)},
        {"first_amount": -1},
        {"first_percent": Decimal(101)},
        {"first_percent": Decimal("NaN")},
        {"first_amount": 1, "second_amount": 1},
        {"first_amount": 1, "second_after_days": 7},
        {"first_amount": 1, "second_after_days": 0, "second_amount": 1},
        {
            "first_amount": 1,
            "second_after_days": 7,
            "second_amount": 1,
            "second_percent": Decimal(1),
        },
        {"first_amount": 1, "cap_per_installment": -1},
        {"first_amount": 1, "cap_per_plan_amount": -1},
        {"first_amount": 1, "cap_per_customer_12_months": -1},
        {"first_amount": 1, "cap_per_plan_percent": Decimal(-1)},
        {"first_amount": 1, "grace_days": -1},
    ],
)
def test_inconsistent_policies_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        LateFeePolicy(**{"grace_days": 0, **fields})


money = st.integers(0, 20_000)
optional_money = st.none() | money
percents = st.integers(0, 10_000).map(lambda hundredths: Decimal(hundredths) / 100)


@st.composite
def policies(draw: st.DrawFn) -> LateFeePolicy:
    first_is_percent = draw(st.booleans())
    second = draw(st.sampled_from(["none", "amount", "percent"]))
    return LateFeePolicy(
        grace_days=draw(st.integers(0, 30)),
        first_amount=None if first_is_percent else draw(money),
        first_percent=draw(percents) if first_is_percent else None,
        second_after_days=None if second == "none" else draw(st.integers(1, 30)),
        second_amount=draw(money) if second == "amount" else None,
        second_percent=draw(percents) if second == "percent" else None,
        cap_per_installment=draw(optional_money),
        cap_per_plan_percent=draw(st.none() | percents),
        cap_per_plan_amount=draw(optional_money),
        cap_per_customer_12_months=draw(optional_money),
    )


contexts = st.builds(FeeContext, money, st.integers(1, 200_000), money, money, money)


@FAST
@given(policies(), contexts, st.sampled_from([1, 2]))
def test_a_fee_never_breaks_a_cap_nor_goes_negative(
    policy: LateFeePolicy, context: FeeContext, step: int
) -> None:
    if step == 2 and not policy.has_second_fee:
        step = 1
    fee = fee_for_step(policy, step, context)
    assert fee >= 0
    spent_and_cap = [
        (context.on_installment, policy.cap_per_installment),
        (context.on_plan, policy.plan_cap(context.plan_amount)),
        (context.on_customer_12_months, policy.cap_per_customer_12_months),
    ]
    for spent, cap in spent_and_cap:
        if cap is not None:
            assert fee <= max(0, cap - spent)
    if context.overdue == 0:
        assert fee == 0


@FAST
@given(policies(), st.integers(1, 200_000), st.lists(st.tuples(st.integers(0, 3), money)))
def test_assessing_step_after_step_stays_within_every_cap(
    policy: LateFeePolicy, plan_amount: int, events: list[tuple[int, int]]
) -> None:
    # A run of assessments on up to four installments of one plan, each fee added to the
    # running totals the next one sees: the totals never pass any cap.
    on_installment = [0, 0, 0, 0]
    on_plan = 0
    for index, overdue in events:
        context = FeeContext(overdue, plan_amount, on_installment[index], on_plan, on_plan)
        fee = fee_for_step(policy, 1, context)
        on_installment[index] += fee
        on_plan += fee
    if policy.cap_per_installment is not None:
        assert max(on_installment) <= policy.cap_per_installment
    plan_cap = policy.plan_cap(plan_amount)
    if plan_cap is not None:
        assert on_plan <= plan_cap
    if policy.cap_per_customer_12_months is not None:
        assert on_plan <= policy.cap_per_customer_12_months

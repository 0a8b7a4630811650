from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import FixedOrPercent as AmountOrPercent
from app.engine import (
    Frequency,
    InterestMethod,
    LineKind,
    Schedule,
    TermsError,
    add_months,
    build_schedule,
    compute_apr,
)
from app.engine import ScheduledPayment as Payment
from app.engine import ScheduleTerms as Terms

FAST = settings(max_examples=150, deadline=None)


def percents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Percentages with two decimals, low..high inclusive."""
    return st.integers(low * 100, high * 100).map(lambda hundredths: Decimal(hundredths) / 100)


dates = st.dates(date(1990, 1, 1), date(2200, 12, 31))
optional_deposit = (
    st.none()
    | st.builds(AmountOrPercent, percent=percents(0, 99))
    | st.builds(AmountOrPercent, amount=st.integers(0, 10**5))
)
optional_fee = (
    st.none()
    | st.builds(AmountOrPercent, percent=percents(0, 10))
    | st.builds(AmountOrPercent, amount=st.integers(0, 10**5))
)


@st.composite
def valid_terms(draw: st.DrawFn) -> Terms:
    start = draw(dates)
    first_due = draw(st.none() | st.integers(1, 400).map(lambda days: start + timedelta(days)))
    return Terms(
        amount=draw(st.integers(10**3, 10**12)),
        currency=draw(st.sampled_from(["USD", "JPY", "BHD", "EUR"])),
        start_date=start,
        installments=draw(st.integers(1, 120)),
        frequency=draw(st.sampled_from(Frequency)),
        deposit=draw(optional_deposit),
        first_due_date=first_due,
        interest_rate=draw(st.just(Decimal(0)) | percents(0, 100)),
        interest_method=draw(st.sampled_from(InterestMethod)),
        fee=draw(optional_fee),
    )


def built(terms: Terms) -> Schedule | None:
    try:
        return build_schedule(terms)
    except TermsError as error:
        code = error.code
    # Only these can refuse terms drawn as valid above.
    assert code in {"deposit_too_large", "installment_below_minor_unit"}
    return None


@FAST
@given(valid_terms())
def test_lines_reconcile_to_the_totals(terms: Terms) -> None:
    schedule = built(terms)
    if schedule is None:
        return
    installments = [line for line in schedule.lines if line.kind is LineKind.INSTALLMENT]
    assert len(installments) == terms.installments
    first_sequence = 0 if schedule.deposit_amount else 1
    assert [line.sequence for line in schedule.lines] == list(
        range(first_sequence, terms.installments + 1)
    )
    assert sum(line.principal for line in installments) == schedule.amount_financed
    assert sum(line.interest for line in installments) == schedule.interest_total
    assert sum(line.fee for line in installments) == schedule.fee_total
    assert sum(line.amount for line in installments) == schedule.total_of_payments
    assert schedule.finance_charge == schedule.interest_total + schedule.fee_total
    assert schedule.total_of_payments == schedule.amount_financed + schedule.finance_charge
    assert schedule.total_sale_price == schedule.total_of_payments + schedule.deposit_amount
    assert sum(line.amount for line in schedule.lines) == schedule.total_sale_price
    assert schedule.amount_financed + schedule.deposit_amount == terms.amount
    assert all(
        line.principal >= 0 and line.interest >= 0 and line.fee >= 0 for line in schedule.lines
    )
    assert all(line.amount >= 1 for line in schedule.lines)
    due = [line.due_date for line in schedule.lines]
    assert all(earlier < later for earlier, later in pairwise(due))
    assert (schedule.first_due_date, schedule.last_due_date) == (
        installments[0].due_date,
        installments[-1].due_date,
    )
    assert schedule.apr >= 0
    assert schedule.apr == schedule.apr.quantize(Decimal("0.01"))
    if schedule.finance_charge == 0:
        assert schedule.apr == 0


@FAST
@given(valid_terms())
def test_zero_interest_installments_differ_by_at_most_one_unit(terms: Terms) -> None:
    schedule = built(Terms(**{**_fields(terms), "interest_rate": Decimal(0), "fee": None}))
    if schedule is None:
        return
    amounts = [line.amount for line in schedule.lines if line.kind is LineKind.INSTALLMENT]
    assert max(amounts) - min(amounts) <= 1
    assert amounts == sorted(amounts, reverse=True)
    assert schedule.apr == 0


def _fields(terms: Terms) -> dict[str, Any]:
    return {name: getattr(terms, name) for name in Terms.__dataclass_fields__}


@FAST
@given(
    amount=st.integers(10**6, 10**11),
    rate=percents(0, 36).filter(lambda rate: rate >= Decimal("0.5")),
    installments=st.integers(3, 60),
    frequency=st.sampled_from(Frequency),
    start=dates,
)
def test_regular_amortized_apr_is_the_rate(
    amount: int, rate: Decimal, installments: int, frequency: Frequency, start: date
) -> None:
    # From 1,000,000 minor units the rounding of each interest (half a unit, n times) moves the
    # APR by less than 5200 / amount %, under half a hundredth.
    terms = Terms(amount, "USD", start, installments, frequency, interest_rate=rate)
    assert abs(build_schedule(terms).apr - rate) <= Decimal("0.01")


anything = st.none() | st.booleans() | st.integers() | st.text(max_size=4)
wild_decimals = (
    st.decimals()
    | st.decimals(places=30)
    | st.sampled_from(
        [
            Decimal("sNaN"),
            Decimal("-Infinity"),
            Decimal("1E-999999"),
            Decimal("-0"),
            Decimal("1E+99"),
        ]
    )
)
wild_split = st.builds(
    AmountOrPercent, amount=st.none() | st.integers(), percent=st.none() | wild_decimals
)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(),
    currency=st.sampled_from(["USD", "JPY", "BHD", "XAU", "usd"]) | st.text(max_size=4),
    start=st.dates(),
    installments=st.integers(),
    frequency=st.sampled_from(Frequency) | anything,
    deposit=st.none() | wild_split,
    first_due=st.none() | st.dates(),
    rate=wild_decimals,
    method=st.sampled_from(InterestMethod) | anything,
    fee=st.none() | wild_split,
)
def test_any_input_builds_or_raises_terms_error(
    amount: int,
    currency: str,
    start: date,
    installments: int,
    frequency: Any,
    deposit: AmountOrPercent | None,
    first_due: date | None,
    rate: Decimal,
    method: Any,
    fee: AmountOrPercent | None,
) -> None:
    terms = Terms(
        amount, currency, start, installments, frequency, deposit, first_due, rate, method, fee
    )
    try:
        build_schedule(terms)
    except TermsError as error:
        refusal = error
    else:
        return
    assert refusal.field
    assert refusal.code
    assert refusal.message


def reference_apr(amount: int, start: date, payments: list[Payment], unit: Frequency) -> Decimal:
    """Appendix J by exact fractions: count back period by period, then bisect on hundredths."""
    per_year = unit.periods_per_year
    flows = []
    for payment in payments:
        day = payment.due_date.day
        if (payment.due_date + timedelta(days=1)).day == 1:
            day = 31
        periods = 0
        point = payment.due_date
        while True:
            if unit is Frequency.MONTHLY:
                earlier = add_months(payment.due_date, -(periods + 1), day)
                fraction = Fraction((point - start).days, 30)
            else:
                length = 7 if unit is Frequency.WEEKLY else 14
                earlier = payment.due_date - timedelta(days=length * (periods + 1))
                fraction = Fraction((point - start).days, length)
            if earlier < start:
                break
            periods, point = periods + 1, earlier
        flows.append((payment.amount, periods, fraction))

    def covers(hundredths: int) -> bool:
        if hundredths <= 0:
            return True
        rate = Fraction(2 * hundredths - 1, 20000 * per_year)
        value = sum(
            Fraction(pay) / ((1 + fraction * rate) * (1 + rate) ** periods)
            for pay, periods, fraction in flows
        )
        return value >= amount

    low, high = 0, 1
    while covers(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if covers(middle) else (low, middle)
    return Decimal(low) / 100


@settings(max_examples=100, deadline=None)
@given(
    start=dates,
    gaps=st.lists(st.integers(1, 70), min_size=1, max_size=8),
    amounts=st.lists(st.integers(1, 10**6), min_size=8, max_size=8),
    share=st.fractions(Fraction(1, 100), 1),
    unit=st.sampled_from(Frequency),
)
def test_compute_apr_matches_exact_fractions(
    start: date, gaps: list[int], amounts: list[int], share: Fraction, unit: Frequency
) -> None:
    due, payments = start, []
    for gap, amount in zip(gaps, amounts, strict=False):
        due += timedelta(days=gap)
        payments.append(Payment(due, amount))
    financed = max(1, int(sum(p.amount for p in payments) * share))
    expected = reference_apr(financed, start, payments, unit)
    assert compute_apr(financed, start, payments, unit) == expected


@settings(max_examples=200, deadline=None)
@given(
    financed=st.integers(),
    start=st.dates(),
    payments=st.lists(st.builds(Payment, st.dates(), st.integers()), max_size=5),
    unit=st.sampled_from(Frequency),
    month_day=st.none() | st.integers(-5, 40),
)
def test_compute_apr_returns_or_raises_terms_error(
    financed: int, start: date, payments: list[Payment], unit: Frequency, month_day: int | None
) -> None:
    try:
        apr = compute_apr(financed, start, payments, unit, month_day)
    except TermsError as error:
        refusal = error
    else:
        assert apr >= 0
        return
    assert refusal.field
    assert refusal.code

"""Regulation Z Appendix J actuarial APR: one advance, a series of payments, one unit period."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise

from app.engine.dates import Frequency, add_months, days_in_month, on_day, period_days
from app.engine.errors import TermsError

MAX_PAYMENTS = 600
MAX_MINOR_UNITS = 10**18
# Appendix J: odd days are a fraction of 30 for a month, of the period's own days otherwise.
_FRACTION_DAYS = {Frequency.MONTHLY: 30, Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_ZERO = Decimal("0.00")
# Flow: (amount, whole unit periods back to the advance, odd days left over).
Flow = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class ScheduledPayment:
    due_date: date
    amount: int


def series_day(due_date: date) -> int:
    """The day of month a payment counts back along: month ends count along month ends."""
    if due_date.day == days_in_month(due_date.year, due_date.month):
        return 31
    return due_date.day


def unit_periods(start: date, due: date, unit_period: Frequency, month_day: int) -> tuple[int, int]:
    """Whole unit periods counted back from `due` toward `start`, and the odd days left over."""
    days = period_days(unit_period)
    if days is not None:
        return divmod((due - start).days, days)
    months = (due.year - start.year) * 12 + due.month - start.month
    point = on_day(start.year, start.month, month_day)
    if point < start:
        months -= 1
        point = add_months(point, 1, month_day)
    return months, (point - start).days


def infer_unit_period(start_date: date, payments: Sequence[ScheduledPayment]) -> Frequency:
    """The unit period that occurs most often between payments (the shorter one on a tie)."""
    _check_payments(start_date, payments)
    dates = [p.due_date for p in payments]
    if len(dates) == 1:
        dates.insert(0, start_date)
    counts = Counter(_classify((later - earlier).days) for earlier, later in pairwise(dates))
    order = (Frequency.WEEKLY, Frequency.BIWEEKLY, Frequency.MONTHLY)
    return max(order, key=lambda unit: (counts[unit], -order.index(unit)))


def _classify(days: int) -> Frequency:
    if days <= 10:
        return Frequency.WEEKLY
    if days <= 20:
        return Frequency.BIWEEKLY
    return Frequency.MONTHLY


def compute_apr(
    amount_financed: int,
    start_date: date,
    payments: Sequence[ScheduledPayment],
    unit_period: Frequency,
    month_day: int | None = None,
) -> Decimal:
    """The APR in percent, half-up to 0.01, of `amount_financed` advanced on `start_date`.

    Monthly periods count back along `month_day` when given (every payment must fall on it),
    else along each payment's own day, month ends along month ends.
    """
    _check_payments(start_date, payments)
    if not 0 < amount_financed <= MAX_MINOR_UNITS:
        raise TermsError(
            "amount_financed", f"must be between 1 and {MAX_MINOR_UNITS}", "amount_out_of_range"
        )
    try:
        unit = Frequency(unit_period)
    except ValueError:
        raise TermsError(
            "unit_period", f"unknown unit period {unit_period!r}", "unknown_unit_period"
        ) from None
    if month_day is not None and not 1 <= month_day <= 31:
        raise TermsError("month_day", "must be between 1 and 31", "invalid_month_day")
    flows: list[Flow] = []
    for index, payment in enumerate(payments):
        due = payment.due_date
        day = series_day(due) if month_day is None else month_day
        if unit is Frequency.MONTHLY and due != on_day(due.year, due.month, day):
            raise TermsError(
                f"payments.{index}.date", f"not on day {day} of the month", "date_off_series"
            )
        flows.append((payment.amount, *unit_periods(start_date, due, unit, day)))
    return solve_apr(amount_financed, flows, unit)


def _check_payments(start_date: date, payments: Sequence[ScheduledPayment]) -> None:
    if not payments:
        raise TermsError("payments", "at least one payment is needed", "no_payments")
    if len(payments) > MAX_PAYMENTS:
        raise TermsError("payments", f"at most {MAX_PAYMENTS} payments", "too_many_payments")
    previous = start_date
    for index, payment in enumerate(payments):
        if payment.due_date <= previous:
            what = "the start date" if index == 0 else "the previous payment"
            raise TermsError(
                f"payments.{index}.date", f"must be after {what}", "dates_not_increasing"
            )
        if not 0 < payment.amount <= MAX_MINOR_UNITS:
            raise TermsError(
                f"payments.{index}.amount",
                f"must be between 1 and {MAX_MINOR_UNITS}",
                "amount_out_of_range",
            )
        previous = payment.due_date


def solve_apr(
    amount_financed: int, flows: Sequence[Flow], unit_period: Frequency, guess: float = 0.0
) -> Decimal:
    """APR of validated flows; `guess` is a unit-period rate near the answer, to start from."""
    total = sum(flow[0] for flow in flows)
    if total < amount_financed:
        raise TermsError(
            "payments",
            "the payments add up to less than the amount financed",
            "payments_below_amount_financed",
        )
    if total == amount_financed:
        return _ZERO
    fraction_days = _FRACTION_DAYS[unit_period]
    per_year = unit_period.periods_per_year
    rate = _float_rate(amount_financed, flows, fraction_days, guess)
    hundredths = rate * per_year * 10_000.0
    nearest = math.floor(hundredths + 0.5)
    # Float is off by far less than this margin; only an answer this close to a half-hundredth
    # needs the exact present value to say which way it rounds.
    margin = abs(hundredths + 0.5 - round(hundredths + 0.5))
    if not margin > 1e-6 + 1e-9 * hundredths:
        nearest = _settle(amount_financed, flows, fraction_days, per_year, nearest)
    return Decimal(nearest).scaleb(-2)


def _float_rate(amount: int, flows: Sequence[Flow], fraction_days: int, guess: float) -> float:
    """The unit-period rate i solving amount = sum P / ((1 + f i)(1 + i)^t), in float.

    Newton on y = ln(1 + i) against ln(present value), kept inside a bracket where it bisects.
    """
    # Payments sharing odd days share the factor 1 / (1 + f i): one group each, usually one.
    groups: dict[int, list[tuple[float, int]]] = {}
    for pay, periods, days in flows:
        groups.setdefault(days, []).append((float(pay), periods))
    fractions = [(days / fraction_days, group) for days, group in groups.items()]
    target = math.log(amount)
    low, high = 0.0, math.inf
    y = math.log1p(guess) if guess > 0 else 0.0
    for _ in range(200):
        rate = math.expm1(y)
        discount = 1.0 / (1.0 + rate)
        value = slope = 0.0
        for fraction, group in fractions:
            part = weighted = 0.0
            for amount_due, count in group:
                term = amount_due * discount**count
                part += term
                weighted += term * count
            simple = 1.0 + fraction * rate
            value += part / simple
            slope += (weighted + part * fraction * (1.0 + rate) / simple) / simple
        if value <= 0.0 or slope <= 0.0:
            high = y
            y = (low + high) / 2
            continue
        excess = math.log(value) - target
        if excess == 0.0:
            return rate
        if excess > 0.0:
            low = y
        else:
            high = y
        following = y + excess * value / slope
        if not low < following < high:
            following = (low + high) / 2 if high < math.inf else 2 * y + 1.0
        # Convergence is quadratic: once a step is this small, the error left is its square.
        if abs(following - y) <= 1e-10 * abs(following):
            return math.expm1(following)
        y = following
    return math.expm1(y)


def _settle(
    amount: int, flows: Sequence[Flow], fraction_days: int, per_year: int, start: int
) -> int:
    """The APR in hundredths of a percent, decided with exact integer present values."""

    def at_least(hundredths: int) -> bool:
        # The rounded APR is >= h iff the rate is >= its lower rounding boundary, (h - 1/2)
        # hundredths, iff the present value there still covers the amount.
        if hundredths <= 0:
            return True
        return _covers(amount, flows, fraction_days, 2 * hundredths - 1, 20_000 * per_year)

    step = 1
    if at_least(start):
        low = start
        while at_least(low + step):
            low += step
            step *= 2
        high = low + step
    else:
        high = start
        while not at_least(high - step):
            high -= step
            step *= 2
        low = high - step
    while high - low > 1:
        middle = (low + high) // 2
        if at_least(middle):
            low = middle
        else:
            high = middle
    return low


def _covers(amount: int, flows: Sequence[Flow], fraction_days: int, num: int, den: int) -> bool:
    """Whether the present value at the unit-period rate num/den (> 0) is at least `amount`.

    With i = p/q and f = d/D: P / ((1 + f i)(1 + i)^t) = P D q q^t / ((D q + d p) (q + p)^t);
    everything is brought over one denominator and compared in integers.
    """
    divisor = math.gcd(num, den)
    p, q = num // divisor, den // divisor
    growth = q + p
    top = max(flow[1] for flow in flows)
    sums: dict[int, int] = {}
    for pay, periods, days in flows:
        sums[days] = sums.get(days, 0) + pay * q**periods * growth ** (top - periods)
    base = fraction_days * q
    simple = {days: base + days * p for days in sums}
    product = math.prod(simple.values())
    covered: int = base * sum(value * (product // simple[days]) for days, value in sums.items())
    needed: int = amount * growth**top * product
    return covered >= needed

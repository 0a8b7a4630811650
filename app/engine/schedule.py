"""Terms to schedule: deposit, installments, interest, fee, the Truth in Lending totals and APR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from math import gcd
from typing import TypeVar

from app.engine.apr import solve_apr, unit_periods
from app.engine.dates import Frequency, series, step
from app.engine.errors import TermsError
from app.engine.money import currency_exponent, div_half_up

__all__ = [
    "MAX_AMOUNT",
    "MAX_DECIMAL_PLACES",
    "MAX_INSTALLMENTS",
    "FixedOrPercent",
    "Frequency",
    "InterestMethod",
    "Line",
    "LineKind",
    "Schedule",
    "ScheduleTerms",
    "build_schedule",
]

MAX_INSTALLMENTS = 120
# Far above any purchase, and low enough that every total still fits a signed 64-bit column.
MAX_AMOUNT = 10**15
# Rates are computed exactly as fractions; a thousand-digit decimal would make that slow.
MAX_DECIMAL_PLACES = 10
_DAYS_PER_YEAR = 365
_PLACES_UNIT = 10**MAX_DECIMAL_PLACES
_E = TypeVar("_E", bound=StrEnum)


class InterestMethod(StrEnum):
    AMORTIZED = "amortized"
    FLAT = "flat"


class LineKind(StrEnum):
    DEPOSIT = "deposit"
    INSTALLMENT = "installment"


@dataclass(frozen=True, slots=True)
class FixedOrPercent:
    """A deposit or fee: exactly one of `amount` (minor units) or `percent` is set."""

    amount: int | None = None
    percent: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    amount: int
    currency: str
    start_date: date
    installments: int
    frequency: Frequency
    deposit: FixedOrPercent | None = None
    first_due_date: date | None = None
    interest_rate: Decimal = Decimal(0)
    interest_method: InterestMethod = InterestMethod.AMORTIZED
    fee: FixedOrPercent | None = None


@dataclass(frozen=True, slots=True)
class Line:
    sequence: int
    kind: LineKind
    due_date: date
    principal: int
    interest: int
    fee: int

    @property
    def amount(self) -> int:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class Schedule:
    terms: ScheduleTerms
    deposit_amount: int
    amount_financed: int
    interest_total: int
    fee_total: int
    finance_charge: int
    total_of_payments: int
    total_sale_price: int
    apr: Decimal
    first_due_date: date
    last_due_date: date
    lines: tuple[Line, ...]


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """The schedule of `terms`; TermsError names the field that makes it impossible."""
    frequency = _enum(Frequency, terms.frequency, "frequency")
    method = _enum(InterestMethod, terms.interest_method, "interest_method")
    amount, count = terms.amount, terms.installments
    if not 0 < amount <= MAX_AMOUNT:
        raise TermsError("amount", f"must be between 1 and {MAX_AMOUNT}", "amount_out_of_range")
    currency_exponent(terms.currency)
    if count < 1:
        raise TermsError("installments", "at least one installment", "too_few_installments")
    if count > MAX_INSTALLMENTS:
        raise TermsError(
            "installments", f"at most {MAX_INSTALLMENTS} installments", "too_many_installments"
        )
    rate = _ratio(terms.interest_rate, "interest_rate", below_100=False)
    deposit = 0
    if terms.deposit is not None:
        deposit = _resolve(terms.deposit, "deposit", amount, below_100=True)
        if deposit >= amount:
            raise TermsError("deposit", "must be less than the amount", "deposit_too_large")
    financed = amount - deposit
    if financed < count:
        raise TermsError(
            "installments",
            "each installment needs at least one minor unit of principal",
            "installment_below_minor_unit",
        )
    fee = 0 if terms.fee is None else _resolve(terms.fee, "fee", financed, below_100=False)
    start = terms.start_date
    first_due, day, odd_days, dues = _due_dates(terms, frequency)

    per_year = frequency.periods_per_year
    if not rate[0]:
        principals = _even(financed, count)
        interests = [0] * count
    elif method is InterestMethod.FLAT:
        principals = _even(financed, count)
        num, den = rate
        interests = _even(div_half_up(financed * num * count, den * 100 * per_year), count)
    else:
        principals, interests = _amortize(financed, rate, count, per_year, odd_days)

    periods, days = unit_periods(start, first_due, frequency, day)
    flows = [
        (principal + interest, periods + k, days)
        for k, (principal, interest) in enumerate(zip(principals, interests, strict=True))
    ]
    flows[0] = (flows[0][0] + fee, periods, days)
    apr = solve_apr(financed, flows, frequency, rate[0] / rate[1] / 100 / per_year)

    lines = [_line(0, _DEPOSIT, start, deposit, 0, 0)] if deposit else []
    fees = [fee] + [0] * (count - 1)
    lines += map(
        _line, range(1, count + 1), [_INSTALLMENT] * count, dues, principals, interests, fees
    )
    interest_total = sum(interests)
    finance_charge = interest_total + fee
    total_of_payments = financed + finance_charge
    return Schedule(
        terms=terms,
        deposit_amount=deposit,
        amount_financed=financed,
        interest_total=interest_total,
        fee_total=fee,
        finance_charge=finance_charge,
        total_of_payments=total_of_payments,
        total_sale_price=total_of_payments + deposit,
        apr=apr,
        first_due_date=first_due,
        last_due_date=dues[-1],
        lines=tuple(lines),
    )


_DEPOSIT = LineKind.DEPOSIT
_INSTALLMENT = LineKind.INSTALLMENT
_new = object.__new__
_set_sequence, _set_kind, _set_due_date, _set_principal, _set_interest, _set_fee = (
    vars(Line)[name].__set__
    for name in ("sequence", "kind", "due_date", "principal", "interest", "fee")
)


def _line(
    sequence: int, kind: LineKind, due: date, principal: int, interest: int, fee: int
) -> Line:
    # A frozen dataclass __init__ pays object.__setattr__ per field, half the cost of a whole
    # schedule; writing the slots directly gives the same immutable Line at half the price.
    line: Line = _new(Line)
    _set_sequence(line, sequence)
    _set_kind(line, kind)
    _set_due_date(line, due)
    _set_principal(line, principal)
    _set_interest(line, interest)
    _set_fee(line, fee)
    return line


def _enum(kind: type[_E], value: object, field: str) -> _E:
    if type(value) is kind:
        return value
    try:
        if isinstance(value, str):
            return kind(value)
    except ValueError:
        pass
    raise TermsError(field, f"unknown {field} {value!r}", f"unknown_{field}")


def _ratio(value: Decimal, field: str, *, below_100: bool) -> tuple[int, int]:
    """A checked percentage as an exact fraction (numerator, denominator)."""
    # A NaN would raise on the first comparison, so it is refused before any.
    if not value.is_finite() or value < 0 or value > 100 or (below_100 and value == 100):
        raise TermsError(
            field,
            "must be from 0 to " + ("below 100" if below_100 else "100"),
            "rate_out_of_range" if field == "interest_rate" else "percent_out_of_range",
        )
    # adjusted() first: 1E-999999 would make as_integer_ratio() build a million-digit number.
    if value and value.adjusted() < -MAX_DECIMAL_PLACES:
        raise TermsError(field, f"at most {MAX_DECIMAL_PLACES} decimal places", "too_many_decimals")
    num, den = value.as_integer_ratio()
    if _PLACES_UNIT % den:
        raise TermsError(field, f"at most {MAX_DECIMAL_PLACES} decimal places", "too_many_decimals")
    return num, den


def _resolve(value: FixedOrPercent, field: str, base: int, *, below_100: bool) -> int:
    """A deposit's or fee's amount: the fixed amount, or its percent of `base`."""
    amount, percent = value.amount, value.percent
    if (amount is None) == (percent is None):
        raise TermsError(field, "give exactly one of amount or percent", "amount_or_percent")
    if percent is not None:
        num, den = _ratio(percent, f"{field}.percent", below_100=below_100)
        return div_half_up(base * num, den * 100)
    assert amount is not None
    if not 0 <= amount <= MAX_AMOUNT:
        raise TermsError(
            f"{field}.amount", f"must be between 0 and {MAX_AMOUNT}", "amount_out_of_range"
        )
    return amount


def _due_dates(
    terms: ScheduleTerms, frequency: Frequency
) -> tuple[date, int, int | None, list[date]]:
    """First due date, the series' day of month, odd first-period days (None if regular), dues."""
    start, given = terms.start_date, terms.first_due_date
    if given is not None and given <= start:
        problem = "on" if given == start else "before"
        raise TermsError(
            "first_due_date", "must be after the start date", f"first_due_{problem}_start"
        )
    try:
        regular = step(start, 1, frequency)
        first, day = (regular, start.day) if given is None else (given, given.day)
        dues = series(first, terms.installments, frequency, day)
    except (ValueError, OverflowError):
        field = "start_date" if given is None else "first_due_date"
        raise TermsError(
            field, "the schedule runs past the year 9999", "date_out_of_range"
        ) from None
    odd_days = None if first == regular else (first - start).days
    return first, day, odd_days, dues


def _even(total: int, count: int) -> list[int]:
    """`total` in `count` parts, the remainder one unit each to the first parts."""
    base, extra = divmod(total, count)
    return [base + 1] * extra + [base] * (count - extra)


def _amortize(
    financed: int, rate: tuple[int, int], count: int, per_year: int, odd_days: int | None
) -> tuple[list[int], list[int]]:
    """Equal payments on a declining balance; the last installment clears the balance."""
    num, den = rate
    # The periodic rate r = a / b, kept exact so that every rounding is to the true half.
    a, b = num, den * 100 * per_year
    divisor = gcd(a, b)
    a, b = a // divisor, b // divisor
    # P = F r / (1 - (1 + r)^-n) = F a (a + b)^n / (b ((a + b)^n - b^n)).
    grown: int = (a + b) ** count
    payment = div_half_up(financed * a * grown, b * (grown - b**count))
    principals: list[int] = []
    interests: list[int] = []
    balance = financed
    first_interest = None
    if odd_days is not None:
        first_interest = div_half_up(financed * num * odd_days, den * 100 * _DAYS_PER_YEAR)
    twice_b = 2 * b
    for remaining in range(count - 1, -1, -1):
        if first_interest is None:
            # Half-up of balance * a / b, inlined: this loop is the hot path.
            interest = (2 * balance * a + b) // twice_b
        else:
            interest, first_interest = first_interest, None
        # Rounding can leave the equal payment short of a long first period's interest, or
        # repay early; principal then stays >= 0 and each later installment keeps one unit.
        principal = max(0, min(payment - interest, balance - remaining)) if remaining else balance
        principals.append(principal)
        interests.append(interest)
        balance -= principal
    return principals, interests

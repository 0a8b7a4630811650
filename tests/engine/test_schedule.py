from __future__ import annotations

import dataclasses
import pickle
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.engine import FixedOrPercent as AmountOrPercent
from app.engine import (
    Frequency,
    InterestMethod,
    Line,
    LineKind,
    Schedule,
    TermsError,
    add_months,
    build_schedule,
)
from app.engine import ScheduleTerms as Terms
from app.engine.schedule import _line

USD_1000 = Terms(
    amount=100000,
    currency="USD",
    start_date=date(2027, 1, 15),
    installments=12,
    frequency=Frequency.MONTHLY,
    interest_rate=Decimal("15"),
)


def rows(schedule: Schedule) -> list[tuple[int, str, date, int, int, int]]:
    return [
        (line.sequence, line.kind, line.due_date, line.principal, line.interest, line.fee)
        for line in schedule.lines
    ]


def assert_reconciles(schedule: Schedule) -> None:
    installments = [line for line in schedule.lines if line.kind is LineKind.INSTALLMENT]
    assert sum(line.amount for line in installments) == schedule.total_of_payments
    assert sum(line.principal for line in installments) == schedule.amount_financed
    assert sum(line.interest for line in installments) == schedule.interest_total
    assert sum(line.fee for line in installments) == schedule.fee_total
    assert sum(line.amount for line in schedule.lines) == schedule.total_sale_price


def test_pay_in_4_with_a_quarter_down() -> None:
    # 400.00 USD, 25 % deposit = 100.00 on the start date; 300.00 / 3 = 100.00 every 14 days.
    schedule = build_schedule(
        Terms(
            amount=40000,
            currency="USD",
            start_date=date(2026, 12, 1),
            installments=3,
            frequency=Frequency.BIWEEKLY,
            deposit=AmountOrPercent(percent=Decimal("25")),
        )
    )
    assert rows(schedule) == [
        (0, "deposit", date(2026, 12, 1), 10000, 0, 0),
        (1, "installment", date(2026, 12, 15), 10000, 0, 0),
        (2, "installment", date(2026, 12, 29), 10000, 0, 0),
        (3, "installment", date(2027, 1, 12), 10000, 0, 0),
    ]
    assert schedule.deposit_amount == 10000
    assert schedule.amount_financed == 30000
    assert schedule.finance_charge == 0
    assert schedule.total_of_payments == 30000
    assert schedule.total_sale_price == 40000
    assert schedule.apr == Decimal("0.00")
    assert (schedule.first_due_date, schedule.last_due_date) == (
        date(2026, 12, 15),
        date(2027, 1, 12),
    )
    assert_reconciles(schedule)


def test_amortized_1000_usd_over_12_months_at_15_percent() -> None:
    # r = 15 / 100 / 12 = 0.0125; P = 100000 * r / (1 - 1.0125^-12) = 9025.83 -> 9026.
    # Month 1: interest 100000 * 0.0125 = 1250, principal 9026 - 1250 = 7776; balance 92224.
    # Month 2: 92224 * 0.0125 = 1152.8 -> 1153, principal 7873; and so on. Month 12 takes the
    # balance left, 8913, with interest 8913 * 0.0125 = 111.4 -> 111: 9024.
    schedule = build_schedule(USD_1000)
    interest = [1250, 1153, 1054, 955, 854, 752, 648, 544, 438, 330, 221, 111]
    principal = [7776, 7873, 7972, 8071, 8172, 8274, 8378, 8482, 8588, 8696, 8805, 8913]
    assert [line.interest for line in schedule.lines] == interest
    assert [line.principal for line in schedule.lines] == principal
    assert [line.amount for line in schedule.lines] == [9026] * 11 + [9024]
    assert [line.due_date for line in schedule.lines] == [
        add_months(date(2027, 2, 15), k) for k in range(12)
    ]
    assert schedule.interest_total == 8310  # 9026 * 11 + 9024 - 100000
    assert schedule.finance_charge == 8310
    assert schedule.total_of_payments == 108310
    assert schedule.total_sale_price == 108310
    assert schedule.apr == Decimal("15.00")
    assert schedule.last_due_date == date(2028, 1, 15)
    assert_reconciles(schedule)


def test_jpy_has_no_minor_unit() -> None:
    # 120000 JPY, 20 % down = 24000; 96000 at 9.9 %: r = 0.00825,
    # P = 96000 r / (1 - 1.00825^-6) = 16465.16 -> 16465. Interest 96000 r = 792, then
    # 80327 r = 662.7 -> 663, 64525 r = 532.3 -> 532, 48592 r = 400.9 -> 401,
    # 32528 r = 268.4 -> 268, 16331 r = 134.7 -> 135 with the last balance, 16331.
    schedule = build_schedule(
        Terms(
            amount=120000,
            currency="JPY",
            start_date=date(2027, 1, 15),
            installments=6,
            frequency=Frequency.MONTHLY,
            deposit=AmountOrPercent(percent=Decimal("20")),
            interest_rate=Decimal("9.9"),
        )
    )
    assert [(line.principal, line.interest) for line in schedule.lines] == [
        (24000, 0),
        (15673, 792),
        (15802, 663),
        (15933, 532),
        (16064, 401),
        (16197, 268),
        (16331, 135),
    ]
    assert schedule.interest_total == 2791
    assert schedule.apr == Decimal("9.90")
    assert_reconciles(schedule)


def test_bhd_has_three_decimals_flat_interest() -> None:
    # 250.501 BHD = 250501 fils in 4 biweekly: 62626, 62625, 62625, 62625.
    # Flat 12 %: 250501 * 0.12 * 4 / 26 = 4624.63 -> 4625 = 1157 + 1156 * 3.
    # APR: 254408 = 4 payments solving 250501 = sum P_k / (1 + i)^k, i * 26 = 19.13 % (checked
    # by bisection on exact fractions).
    schedule = build_schedule(
        Terms(
            amount=250501,
            currency="BHD",
            start_date=date(2027, 1, 15),
            installments=4,
            frequency=Frequency.BIWEEKLY,
            interest_rate=Decimal("12"),
            interest_method=InterestMethod.FLAT,
        )
    )
    assert rows(schedule) == [
        (1, "installment", date(2027, 1, 29), 62626, 1157, 0),
        (2, "installment", date(2027, 2, 12), 62625, 1156, 0),
        (3, "installment", date(2027, 2, 26), 62625, 1156, 0),
        (4, "installment", date(2027, 3, 12), 62625, 1156, 0),
    ]
    assert schedule.apr == Decimal("19.13")
    assert_reconciles(schedule)


def test_zero_interest_remainder_goes_to_the_first_installments() -> None:
    # 10001 in 4 = 2500 rest 1: 2501, 2500, 2500, 2500. Weekly: +7 days each.
    schedule = build_schedule(
        Terms(10001, "USD", date(2027, 3, 1), 4, Frequency.WEEKLY, interest_rate=Decimal(0))
    )
    assert [line.principal for line in schedule.lines] == [2501, 2500, 2500, 2500]
    assert [line.due_date for line in schedule.lines] == [
        date(2027, 3, 8),
        date(2027, 3, 15),
        date(2027, 3, 22),
        date(2027, 3, 29),
    ]


def test_flat_method_with_zero_rate_is_zero_interest() -> None:
    terms = Terms(10001, "USD", date(2027, 3, 1), 4, Frequency.WEEKLY)
    flat = dataclasses.replace(terms, interest_method=InterestMethod.FLAT)
    assert rows(build_schedule(flat)) == rows(build_schedule(terms))


def test_month_end_start_keeps_the_month_end() -> None:
    schedule = build_schedule(Terms(120000, "USD", date(2027, 1, 31), 12, Frequency.MONTHLY))
    assert [line.due_date for line in schedule.lines] == [
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
    ]


def test_month_end_in_a_leap_year() -> None:
    schedule = build_schedule(Terms(30000, "USD", date(2028, 1, 31), 3, Frequency.MONTHLY))
    assert [line.due_date for line in schedule.lines] == [
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    ]


def test_the_30th_is_kept_after_february() -> None:
    schedule = build_schedule(Terms(30000, "USD", date(2027, 1, 30), 3, Frequency.MONTHLY))
    assert [line.due_date for line in schedule.lines] == [
        date(2027, 2, 28),
        date(2027, 3, 30),
        date(2027, 4, 30),
    ]


def test_given_first_due_date_sets_the_day_of_month() -> None:
    schedule = build_schedule(
        Terms(
            30000, "USD", date(2027, 1, 15), 3, Frequency.MONTHLY, first_due_date=date(2027, 1, 31)
        )
    )
    assert [line.due_date for line in schedule.lines] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
    ]
    assert schedule.apr == Decimal("0.00")


def test_fee_on_a_zero_interest_plan_is_a_finance_charge() -> None:
    # 1000.00 in 4 monthly of 250.00, a 20.00 fee with the first: 270, 250, 250, 250.
    # Appendix J: 100000 = 27000/(1+i) + 25000/(1+i)^2 + 25000/(1+i)^3 + 25000/(1+i)^4
    # gives i = 0.8064 % a month; x 12 = 9.677 -> 9.68 % (checked by exact bisection).
    schedule = build_schedule(
        Terms(
            100000,
            "USD",
            date(2027, 1, 15),
            4,
            Frequency.MONTHLY,
            fee=AmountOrPercent(amount=2000),
        )
    )
    assert [(line.principal, line.interest, line.fee) for line in schedule.lines] == [
        (25000, 0, 2000),
        (25000, 0, 0),
        (25000, 0, 0),
        (25000, 0, 0),
    ]
    assert (schedule.interest_total, schedule.fee_total, schedule.finance_charge) == (0, 2000, 2000)
    assert schedule.total_of_payments == 102000
    assert schedule.apr == Decimal("9.68")
    assert_reconciles(schedule)


def test_fee_percent_is_of_the_amount_financed() -> None:
    # 30000 financed after 100.00 down; 2.5 % of 30000 = 750 on the first installment.
    schedule = build_schedule(
        Terms(
            40000,
            "USD",
            date(2026, 12, 1),
            3,
            Frequency.BIWEEKLY,
            deposit=AmountOrPercent(amount=10000),
            fee=AmountOrPercent(percent=Decimal("2.5")),
        )
    )
    assert [line.fee for line in schedule.lines] == [0, 750, 0, 0]
    assert schedule.total_sale_price == 40750
    assert schedule.apr > 0
    assert_reconciles(schedule)


def test_long_odd_first_period_accrues_daily_interest() -> None:
    # 2027-01-15 -> 2027-03-01 is 45 days: 100000 * 0.15 / 365 * 45 = 1849.3 -> 1849.
    # P is still the 12-month payment, 9026; principal 9026 - 1849 = 7177, balance 92823;
    # month 2: 92823 * 0.0125 = 1160.3 -> 1160. Later months on the 1st.
    # APR: the first payment is 1 month (Feb 1 -> Mar 1) and 17 days (Jan 15 -> Feb 1) out;
    # solving with f = 17/30 gives 14.80 % (checked by exact bisection).
    schedule = build_schedule(dataclasses.replace(USD_1000, first_due_date=date(2027, 3, 1)))
    assert [(line.due_date, line.principal, line.interest) for line in schedule.lines[:2]] == [
        (date(2027, 3, 1), 7177, 1849),
        (date(2027, 4, 1), 7866, 1160),
    ]
    assert (schedule.lines[-1].due_date, schedule.lines[-1].amount) == (date(2028, 2, 1), 9711)
    assert schedule.interest_total == 8997
    assert schedule.apr == Decimal("14.80")
    assert_reconciles(schedule)


def test_short_odd_first_period() -> None:
    # 20 days: 100000 * 0.15 / 365 * 20 = 821.9 -> 822.
    schedule = build_schedule(dataclasses.replace(USD_1000, first_due_date=date(2027, 2, 4)))
    assert (schedule.lines[0].principal, schedule.lines[0].interest) == (8204, 822)
    assert schedule.apr == Decimal("14.98")
    assert_reconciles(schedule)


def test_first_due_date_one_period_out_is_not_odd() -> None:
    given = dataclasses.replace(USD_1000, first_due_date=date(2027, 2, 15))
    assert rows(build_schedule(given)) == rows(build_schedule(USD_1000))


def test_first_period_longer_than_the_payment_covers() -> None:
    # 731 days (2028 is a leap year) at 36 %: 100000 * 0.36 / 365 * 731 = 72098.6 -> 72099,
    # more than P = 35353: that installment is all interest, principal never negative.
    schedule = build_schedule(
        dataclasses.replace(
            USD_1000,
            installments=3,
            interest_rate=Decimal("36"),
            first_due_date=date(2029, 1, 15),
        )
    )
    assert [(line.principal, line.interest) for line in schedule.lines] == [
        (0, 72099),
        (32353, 3000),
        (67647, 2029),
    ]
    assert_reconciles(schedule)


def test_rounded_up_payment_never_repays_before_the_last_installment() -> None:
    # 1.80 over 120 months at 0.0001 %: P = round(1.50001) = 2 would repay after 90 months;
    # every installment keeps at least one unit of principal instead.
    schedule = build_schedule(
        Terms(
            180, "USD", date(2027, 1, 15), 120, Frequency.MONTHLY, interest_rate=Decimal("0.0001")
        )
    )
    assert [line.principal for line in schedule.lines] == [2] * 60 + [1] * 60
    assert_reconciles(schedule)


def test_zero_deposit_amount_makes_no_deposit_line() -> None:
    terms = dataclasses.replace(USD_1000, deposit=AmountOrPercent(amount=0))
    schedule = build_schedule(terms)
    assert schedule.lines[0].kind is LineKind.INSTALLMENT
    assert schedule.deposit_amount == 0


def test_string_enum_values_are_accepted() -> None:
    terms: Any = dataclasses.replace(USD_1000, frequency="monthly", interest_method="amortized")
    assert rows(build_schedule(terms)) == rows(build_schedule(USD_1000))


def test_lines_are_frozen_values() -> None:
    line = build_schedule(USD_1000).lines[0]
    assert line == Line(1, LineKind.INSTALLMENT, date(2027, 2, 15), 7776, 1250, 0)
    assert _line(1, LineKind.INSTALLMENT, date(2027, 2, 15), 7776, 1250, 0) == line
    assert hash(line) == hash(Line(1, LineKind.INSTALLMENT, date(2027, 2, 15), 7776, 1250, 0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.principal = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "months", "day", "expected"),
    [
        (date(2027, 1, 31), 1, None, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, None, date(2028, 2, 29)),
        (date(2027, 1, 31), 2, None, date(2027, 3, 31)),
        (date(2027, 2, 28), 1, 31, date(2027, 3, 31)),
        (date(2027, 3, 31), -1, None, date(2027, 2, 28)),
        (date(2027, 1, 15), -13, None, date(2025, 12, 15)),
        (date(2027, 12, 10), 1, None, date(2028, 1, 10)),
    ],
)
def test_add_months(start: date, months: int, day: int | None, expected: date) -> None:
    assert add_months(start, months, day) == expected


def refused(terms: Terms) -> tuple[str, str]:
    with pytest.raises(TermsError) as info:
        build_schedule(terms)
    assert info.value.message
    return info.value.field, info.value.code


BASE = Terms(40000, "USD", date(2026, 12, 1), 3, Frequency.BIWEEKLY)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"amount": 0}, "amount", "amount_out_of_range"),
        ({"amount": -5}, "amount", "amount_out_of_range"),
        ({"amount": 10**15 + 1}, "amount", "amount_out_of_range"),
        ({"currency": "XYZ"}, "currency", "unknown_currency"),
        ({"currency": "usd"}, "currency", "unknown_currency"),
        ({"currency": "XAU"}, "currency", "unknown_currency"),
        ({"installments": 0}, "installments", "too_few_installments"),
        ({"installments": 121}, "installments", "too_many_installments"),
        ({"frequency": "daily"}, "frequency", "unknown_frequency"),
        ({"frequency": 12}, "frequency", "unknown_frequency"),
        ({"interest_method": "compound"}, "interest_method", "unknown_interest_method"),
        ({"interest_rate": Decimal("-1")}, "interest_rate", "rate_out_of_range"),
        ({"interest_rate": Decimal("100.01")}, "interest_rate", "rate_out_of_range"),
        ({"interest_rate": Decimal("NaN")}, "interest_rate", "rate_out_of_range"),
        ({"interest_rate": Decimal("sNaN")}, "interest_rate", "rate_out_of_range"),
        ({"interest_rate": Decimal("Infinity")}, "interest_rate", "rate_out_of_range"),
        ({"interest_rate": Decimal("1E-11")}, "interest_rate", "too_many_decimals"),
        ({"interest_rate": Decimal("1E-999999")}, "interest_rate", "too_many_decimals"),
        ({"interest_rate": Decimal("15.12345678901")}, "interest_rate", "too_many_decimals"),
        ({"deposit": AmountOrPercent()}, "deposit", "amount_or_percent"),
        (
            {"deposit": AmountOrPercent(amount=1, percent=Decimal(1))},
            "deposit",
            "amount_or_percent",
        ),
        ({"deposit": AmountOrPercent(amount=-1)}, "deposit.amount", "amount_out_of_range"),
        (
            {"deposit": AmountOrPercent(percent=Decimal(100))},
            "deposit.percent",
            "percent_out_of_range",
        ),
        (
            {"deposit": AmountOrPercent(percent=Decimal(-1))},
            "deposit.percent",
            "percent_out_of_range",
        ),
        ({"deposit": AmountOrPercent(amount=40000)}, "deposit", "deposit_too_large"),
        ({"deposit": AmountOrPercent(amount=50000)}, "deposit", "deposit_too_large"),
        # 99.999 % of 40000 = 39999.6 -> 40000: nothing left to finance.
        ({"deposit": AmountOrPercent(percent=Decimal("99.999"))}, "deposit", "deposit_too_large"),
        ({"fee": AmountOrPercent()}, "fee", "amount_or_percent"),
        ({"fee": AmountOrPercent(amount=-1)}, "fee.amount", "amount_out_of_range"),
        (
            {"fee": AmountOrPercent(percent=Decimal("100.5"))},
            "fee.percent",
            "percent_out_of_range",
        ),
        ({"first_due_date": date(2026, 11, 30)}, "first_due_date", "first_due_before_start"),
        ({"first_due_date": date(2026, 12, 1)}, "first_due_date", "first_due_on_start"),
        ({"amount": 100, "installments": 120}, "installments", "installment_below_minor_unit"),
        (
            {"deposit": AmountOrPercent(amount=39998)},
            "installments",
            "installment_below_minor_unit",
        ),
        ({"start_date": date.max}, "start_date", "date_out_of_range"),
        (
            {"start_date": date(9999, 11, 1), "frequency": Frequency.MONTHLY},
            "start_date",
            "date_out_of_range",
        ),
        (
            {"frequency": Frequency.MONTHLY, "first_due_date": date(9999, 11, 30)},
            "first_due_date",
            "date_out_of_range",
        ),
    ],
)
def test_refusals_name_the_field(change: dict[str, Any], field: str, code: str) -> None:
    assert refused(dataclasses.replace(BASE, **change)) == (field, code)


def test_fee_of_100_percent_and_deposit_just_below_the_amount_are_allowed() -> None:
    schedule = build_schedule(
        dataclasses.replace(
            BASE,
            deposit=AmountOrPercent(amount=39997),
            fee=AmountOrPercent(percent=Decimal(100)),
        )
    )
    # 3 financed, 1 each; the fee is 100 % of 3.
    assert [line.amount for line in schedule.lines] == [39997, 4, 1, 1]


def test_the_last_representable_schedule_is_built() -> None:
    start = date(9999, 12, 31) - timedelta(days=14 * 3)
    assert build_schedule(dataclasses.replace(BASE, start_date=start)).last_due_date == date.max


def test_terms_error_is_a_value_error_that_pickles() -> None:
    error = TermsError("deposit.percent", "must be below 100", "percent_out_of_range")
    assert isinstance(error, ValueError)
    assert str(error) == "deposit.percent: must be below 100"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.field, copy.message, copy.code) == (error.field, error.message, error.code)

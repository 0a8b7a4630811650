from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.engine import Frequency, TermsError, add_months, compute_apr, infer_unit_period
from app.engine import ScheduledPayment as Payment
from app.engine.apr import _settle, unit_periods

# Examples of 12 CFR 1026 Appendix J (c), "Examples for the actuarial method"; the figures
# (amount advanced, payments, dates, APR) as published there and reproduced in the Appendix J
# tests of simontreanor/FSharp.Finance.Personal (AprUsActuarialTests).


def monthly(first: date, count: int, amount: int) -> list[Payment]:
    return [Payment(add_months(first, k), amount) for k in range(count)]


def every(first: date, days: int, count: int, amount: int) -> list[Payment]:
    return [Payment(first + timedelta(days=days * k), amount) for k in range(count)]


def test_appendix_j_c_1_i_monthly_regular_first_period() -> None:
    # 5,000.00 advanced 1978-01-10; 24 monthly payments of 230.00 from 1978-02-10: 9.69 %.
    payments = monthly(date(1978, 2, 10), 24, 23000)
    assert compute_apr(500000, date(1978, 1, 10), payments, Frequency.MONTHLY) == Decimal("9.69")
    assert infer_unit_period(date(1978, 1, 10), payments) is Frequency.MONTHLY


def test_appendix_j_c_1_ii_monthly_long_first_period() -> None:
    # 6,000.00 advanced 1978-02-10; 36 monthly payments of 200.00 from 1978-04-01: 11.82 %.
    # The first payment is 1 month (Mar 1 -> Apr 1) and 19 days (Feb 10 -> Mar 1) out.
    assert unit_periods(date(1978, 2, 10), date(1978, 4, 1), Frequency.MONTHLY, 1) == (1, 19)
    payments = monthly(date(1978, 4, 1), 36, 20000)
    assert compute_apr(600000, date(1978, 2, 10), payments, Frequency.MONTHLY) == Decimal("11.82")


def test_appendix_j_c_1_v_weekly_long_first_period() -> None:
    # 500.00 advanced 1978-03-20; 30 weekly payments of 17.60 from 1978-04-21: 14.96 %.
    # The first payment is 4 weeks and 4 days out.
    assert unit_periods(date(1978, 3, 20), date(1978, 4, 21), Frequency.WEEKLY, 21) == (4, 4)
    payments = every(date(1978, 4, 21), 7, 30, 1760)
    assert compute_apr(50000, date(1978, 3, 20), payments, Frequency.WEEKLY) == Decimal("14.96")
    assert infer_unit_period(date(1978, 3, 20), payments) is Frequency.WEEKLY


def test_appendix_j_c_2_i_monthly_irregular_first_payment() -> None:
    # 5,000.00 advanced 1978-01-10; 250.00 on 1978-02-10, then 23 of 230.00: 10.08 %.
    payments = [Payment(date(1978, 2, 10), 25000), *monthly(date(1978, 3, 10), 23, 23000)]
    assert compute_apr(500000, date(1978, 1, 10), payments, Frequency.MONTHLY) == Decimal("10.08")


def test_appendix_j_c_3_i_monthly_irregular_final_payment() -> None:
    # 5,000.00 advanced 1978-01-10; 23 of 230.00 from 1978-02-10, then 280.00: 10.50 %.
    payments = [*monthly(date(1978, 2, 10), 23, 23000), Payment(date(1980, 1, 10), 28000)]
    assert compute_apr(500000, date(1978, 1, 10), payments, Frequency.MONTHLY) == Decimal("10.50")


def test_appendix_j_c_3_ii_biweekly_short_first_period_irregular_final_payment() -> None:
    # 200.00 advanced 1978-04-03; 19 payments of 9.50 every 2 weeks from 1978-04-11, then
    # 30.00 two weeks after the last: 12.22 %. The first period is 8 days: f = 8/14.
    payments = [*every(date(1978, 4, 11), 14, 19, 950), Payment(date(1979, 1, 2), 3000)]
    assert compute_apr(20000, date(1978, 4, 3), payments, Frequency.BIWEEKLY) == Decimal("12.22")
    assert infer_unit_period(date(1978, 4, 3), payments) is Frequency.BIWEEKLY


def test_appendix_j_c_4_i_monthly_irregular_first_and_final_payments() -> None:
    # 5,000.00 advanced 1978-01-10; 250.00, then 22 of 230.00, then 280.00: 10.90 %.
    payments = [
        Payment(date(1978, 2, 10), 25000),
        *monthly(date(1978, 3, 10), 22, 23000),
        Payment(date(1980, 1, 10), 28000),
    ]
    assert compute_apr(500000, date(1978, 1, 10), payments, Frequency.MONTHLY) == Decimal("10.90")


def test_payments_equal_to_the_amount_financed_is_zero() -> None:
    payments = monthly(date(2027, 2, 1), 4, 2500)
    assert compute_apr(10000, date(2027, 1, 1), payments, Frequency.MONTHLY) == Decimal("0.00")


def test_an_answer_on_a_rounding_boundary_rounds_half_up() -> None:
    # i = 1 / 240000 a month exactly: APR = 12 * 100 / 240000 = 0.005 % -> 0.01.
    payments = [Payment(date(2027, 2, 1), 240001)]
    assert compute_apr(240000, date(2027, 1, 1), payments, Frequency.MONTHLY) == Decimal("0.01")
    # i = 1 / 480000: 0.0025 % -> 0.00, though the payments exceed the amount.
    payments = [Payment(date(2027, 2, 1), 480001)]
    assert compute_apr(480000, date(2027, 1, 1), payments, Frequency.MONTHLY) == Decimal("0.00")


@pytest.mark.parametrize("estimate", [0, 1, 968, 969, 970, 5000, 10**9])
def test_exact_settling_finds_the_answer_from_any_estimate(estimate: int) -> None:
    flows = [(23000, k + 1, 0) for k in range(24)]
    assert _settle(500000, flows, 30, 12, estimate) == 969


def test_rates_of_several_hundred_percent_converge() -> None:
    # 100.00 repaid with 130.00 two weeks later: i = 0.3 per 14 days, x 26 = 780 %.
    payments = [Payment(date(2027, 1, 15), 13000)]
    assert compute_apr(10000, date(2027, 1, 1), payments, Frequency.BIWEEKLY) == Decimal("780.00")
    # A day out: 130 = 100 (1 + i/7), i = 2.1 a week, x 52 = 10920 %.
    payments = [Payment(date(2027, 1, 2), 13000)]
    assert compute_apr(10000, date(2027, 1, 1), payments, Frequency.WEEKLY) == Decimal("10920.00")


def test_month_end_payments_count_back_along_month_ends() -> None:
    # Jan 31 -> Feb 28 -> Mar 31: whole months, no odd days, so 1 % a month is 12.00 %.
    start = date(2027, 1, 31)
    assert unit_periods(start, date(2027, 2, 28), Frequency.MONTHLY, 31) == (1, 0)
    assert unit_periods(start, date(2027, 3, 31), Frequency.MONTHLY, 31) == (2, 0)
    payments = [Payment(date(2027, 2, 28), 10100)]
    assert compute_apr(10000, start, payments, Frequency.MONTHLY) == Decimal("12.00")
    # The 30th series: Feb 28 counts back to Jan 30 when the series' day is given.
    start = date(2027, 1, 30)
    assert compute_apr(10000, start, payments, Frequency.MONTHLY, month_day=30) == Decimal("12.00")


def test_odd_days_are_thirtieths_of_a_month() -> None:
    # 15 days: 10050 = 10000 (1 + 15/30 i): i = 1 % a month, 12.00 %.
    payments = [Payment(date(2027, 1, 16), 10050)]
    assert compute_apr(10000, date(2027, 1, 1), payments, Frequency.MONTHLY) == Decimal("12.00")


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ([date(2027, 1, 8)], Frequency.WEEKLY),
        ([date(2027, 1, 11)], Frequency.WEEKLY),
        ([date(2027, 1, 12)], Frequency.BIWEEKLY),
        ([date(2027, 1, 21)], Frequency.BIWEEKLY),
        ([date(2027, 1, 22)], Frequency.MONTHLY),
        # The start is not an interval when there are several payments: 40 days then weekly.
        ([date(2027, 2, 10), date(2027, 2, 17), date(2027, 2, 24)], Frequency.WEEKLY),
        # A tie goes to the shorter period, as Appendix J (b)(4)(i)(A) says.
        ([date(2027, 2, 1), date(2027, 2, 8), date(2027, 3, 8)], Frequency.WEEKLY),
        (
            [date(2027, 2, 1), date(2027, 3, 1), date(2027, 3, 31), date(2027, 4, 30)],
            Frequency.MONTHLY,
        ),
    ],
)
def test_infer_unit_period(dates: list[date], expected: Frequency) -> None:
    payments = [Payment(due, 100) for due in dates]
    assert infer_unit_period(date(2027, 1, 1), payments) is expected


START = date(2027, 1, 1)


@pytest.mark.parametrize(
    ("amount_financed", "payments", "field", "code"),
    [
        (1000, [], "payments", "no_payments"),
        (1000, [Payment(date(2027, 2, 1), 0)], "payments.0.amount", "amount_out_of_range"),
        (1000, [Payment(date(2027, 2, 1), -5)], "payments.0.amount", "amount_out_of_range"),
        (1000, [Payment(START, 1100)], "payments.0.date", "dates_not_increasing"),
        (1000, [Payment(date(2026, 12, 1), 1100)], "payments.0.date", "dates_not_increasing"),
        (
            1000,
            [Payment(date(2027, 3, 1), 600), Payment(date(2027, 2, 1), 600)],
            "payments.1.date",
            "dates_not_increasing",
        ),
        (
            1000,
            [Payment(date(2027, 2, 1), 600), Payment(date(2027, 2, 1), 600)],
            "payments.1.date",
            "dates_not_increasing",
        ),
        (0, [Payment(date(2027, 2, 1), 1)], "amount_financed", "amount_out_of_range"),
        (-1, [Payment(date(2027, 2, 1), 1)], "amount_financed", "amount_out_of_range"),
        (
            1000,
            [Payment(date(2027, 2, 1), 999)],
            "payments",
            "payments_below_amount_financed",
        ),
        (
            1000,
            [Payment(START + timedelta(days=k + 1), 10) for k in range(601)],
            "payments",
            "too_many_payments",
        ),
    ],
)
def test_refusals(amount_financed: int, payments: list[Payment], field: str, code: str) -> None:
    with pytest.raises(TermsError) as info:
        compute_apr(amount_financed, START, payments, Frequency.MONTHLY)
    assert (info.value.field, info.value.code) == (field, code)


def test_refusals_of_the_unit_and_month_day() -> None:
    payments = [Payment(date(2027, 2, 15), 1100)]
    with pytest.raises(TermsError) as info:
        compute_apr(1000, START, payments, "daily")  # type: ignore[arg-type]
    assert (info.value.field, info.value.code) == ("unit_period", "unknown_unit_period")
    with pytest.raises(TermsError) as info:
        compute_apr(1000, START, payments, Frequency.MONTHLY, month_day=32)
    assert (info.value.field, info.value.code) == ("month_day", "invalid_month_day")
    with pytest.raises(TermsError) as info:
        compute_apr(1000, START, payments, Frequency.MONTHLY, month_day=1)
    assert (info.value.field, info.value.code) == ("payments.0.date", "date_off_series")


def test_six_hundred_weekly_payments() -> None:
    payments = every(date(2027, 1, 8), 7, 600, 2000)
    apr = compute_apr(1000000, START, payments, Frequency.WEEKLY)
    assert Decimal("0") < apr < Decimal("100")

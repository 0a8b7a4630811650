from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from app.engine import TermsError, currency_exponent, percent_of, round_half_up
from app.engine.money import div_half_up


@pytest.mark.parametrize(
    ("code", "exponent"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3), ("CLF", 4)]
)
def test_currency_exponent_comes_from_the_iso_table(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XYZ", "usd", "Usd", "XAU", "XXX", "XTS", "", "USDD", " USD"])
def test_unknown_or_unit_less_currencies_are_refused(code: str) -> None:
    with pytest.raises(TermsError) as info:
        currency_exponent(code)
    assert (info.value.field, info.value.code) == ("currency", "unknown_currency")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.5", 3),
        ("2.4999999999999999999999999999999", 2),
        ("2.5000000000000000000000000000001", 3),
        ("-2.5", -3),
        ("-2.4", -2),
        ("0", 0),
        ("7", 7),
        ("1E+3", 1000),
        ("123456789012345678901234567890.5", 123456789012345678901234567891),
    ],
)
def test_round_half_up(value: str, expected: int) -> None:
    assert round_half_up(Decimal(value)) == expected


def test_rounding_ignores_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert round_half_up(Decimal("123456.5")) == 123457
        assert percent_of(123456, Decimal("50")) == 61728


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot round"):
        round_half_up(Decimal(value))
    with pytest.raises(ValueError, match="cannot take"):
        percent_of(100, Decimal(value))


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (40000, "25", 10000),
        (1, "50", 1),  # 0.5 -> 1, half-up
        (3, "50", 2),  # 1.5 -> 2 (half-even would say 2 too; the next one tells them apart)
        (5, "50", 3),  # 2.5 -> 3, half-even would say 2
        (333, "33.3333", 111),  # 110.999889
        (100000, "2", 2000),
        (99999, "0", 0),
    ],
)
def test_percent_of(amount: int, percent: str, expected: int) -> None:
    assert percent_of(amount, Decimal(percent)) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 3), (-5, 2, -3), (5, -2, -3), (7, 3, 2), (-7, 3, -2), (8, 3, 3), (0, 9, 0)],
)
def test_div_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert div_half_up(numerator, denominator) == expected

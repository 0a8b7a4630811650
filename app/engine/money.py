"""Currencies and half-up rounding of exact quantities to minor units."""

from __future__ import annotations

from decimal import Decimal

from iso4217 import Currency

from app.engine.errors import TermsError

# Codes such as XAU or XXX have no minor unit, so no amount of them can be written in minor units.
_EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}


def currency_exponent(code: str) -> int:
    """Digits of the minor unit of an upper-case ISO 4217 code (USD 2, JPY 0, BHD 3)."""
    exponent = _EXPONENTS.get(code)
    if exponent is None:
        raise TermsError(
            "currency",
            f"{code!r} is not an ISO 4217 currency with a minor unit",
            "unknown_currency",
        )
    return exponent


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, exactly."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((2 * -numerator + denominator) // (2 * denominator))


def round_half_up(value: Decimal) -> int:
    """A decimal quantity of minor units, rounded half-up to a whole minor unit."""
    if not value.is_finite():
        raise ValueError(f"cannot round {value} to a minor unit")
    # Exact: quantize() would depend on the caller's decimal context and fail past its precision.
    numerator, denominator = value.as_integer_ratio()
    return div_half_up(numerator, denominator)


def percent_of(amount: int, percent: Decimal) -> int:
    """percent % of amount, half-up to the minor unit."""
    if not percent.is_finite():
        raise ValueError(f"cannot take {percent} % of an amount")
    numerator, denominator = percent.as_integer_ratio()
    return div_half_up(amount * numerator, denominator * 100)

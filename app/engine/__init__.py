"""Pure schedule maths: money, dates, schedules and the Appendix J APR. No I/O."""

from app.engine.apr import Payment, compute_apr, infer_unit_period
from app.engine.dates import Frequency, add_months
from app.engine.errors import TermsError
from app.engine.money import currency_exponent, percent_of, round_half_up
from app.engine.schedule import (
    AmountOrPercent,
    InterestMethod,
    Line,
    LineKind,
    Schedule,
    Terms,
    build_schedule,
)

__all__ = [
    "AmountOrPercent",
    "Frequency",
    "InterestMethod",
    "Line",
    "LineKind",
    "Payment",
    "Schedule",
    "Terms",
    "TermsError",
    "add_months",
    "build_schedule",
    "compute_apr",
    "currency_exponent",
    "infer_unit_period",
    "percent_of",
    "round_half_up",
]

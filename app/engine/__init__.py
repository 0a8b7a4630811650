"""Pure schedule maths: money, dates, schedules and the Appendix J APR. No I/O."""

from app.engine.apr import ScheduledPayment, compute_apr, infer_unit_period
from app.engine.dates import Frequency, add_months
from app.engine.errors import TermsError
from app.engine.money import currency_exponent, percent_of, round_half_up
from app.engine.schedule import (
    FixedOrPercent,
    InterestMethod,
    Line,
    LineKind,
    Schedule,
    ScheduleTerms,
    build_schedule,
)

__all__ = [
    "FixedOrPercent",
    "Frequency",
    "InterestMethod",
    "Line",
    "LineKind",
    "Schedule",
    "ScheduleTerms",
    "ScheduledPayment",
    "TermsError",
    "add_months",
    "build_schedule",
    "compute_apr",
    "currency_exponent",
    "infer_unit_period",
    "percent_of",
    "round_half_up",
]

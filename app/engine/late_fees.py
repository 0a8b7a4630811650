"""Late fees: which steps a late installment has reached, and what each may still cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.engine.money import percent_of


@dataclass(frozen=True, slots=True)
class LateFeeRules:
    """A product's late fees. Percents are of what is overdue on the installment.

    The plan cap is the lower of `cap_per_plan_percent` (of the purchase amount) and
    `cap_per_plan_amount` when both are set. Raises ValueError when inconsistent.
    """

    grace_days: int
    first_amount: int | None = None
    first_percent: Decimal | None = None
    second_after_days: int | None = None
    second_amount: int | None = None
    second_percent: Decimal | None = None
    cap_per_installment: int | None = None
    cap_per_plan_percent: Decimal | None = None
    cap_per_plan_amount: int | None = None
    cap_per_customer_12_months: int | None = None

    def __post_init__(self) -> None:
        if self.grace_days < 0:
            raise ValueError("grace_days must not be negative")
        _check_fee("first", self.first_amount, self.first_percent)
        if self.second_after_days is None:
            if self.second_amount is not None or self.second_percent is not None:
                raise ValueError("a second fee needs second_after_days")
        else:
            # A second fee on the day of the first is one bigger fee; refused as a likely typo.
            if self.second_after_days < 1:
                raise ValueError("second_after_days must be at least 1")
            _check_fee("second", self.second_amount, self.second_percent)
        caps = {
            "cap_per_installment": self.cap_per_installment,
            "cap_per_plan_amount": self.cap_per_plan_amount,
            "cap_per_customer_12_months": self.cap_per_customer_12_months,
        }
        for name, cap in caps.items():
            if cap is not None and cap < 0:
                raise ValueError(f"{name} must not be negative")
        if self.cap_per_plan_percent is not None:
            _check_percent("cap_per_plan_percent", self.cap_per_plan_percent)

    @property
    def has_second_fee(self) -> bool:
        return self.second_after_days is not None

    def plan_cap(self, plan_amount: int) -> int | None:
        """The most late fees one plan may carry in all, or None when uncapped."""
        caps = []
        if self.cap_per_plan_percent is not None:
            caps.append(percent_of(plan_amount, self.cap_per_plan_percent))
        if self.cap_per_plan_amount is not None:
            caps.append(self.cap_per_plan_amount)
        return min(caps) if caps else None


def _check_fee(which: str, amount: int | None, percent: Decimal | None) -> None:
    if (amount is None) == (percent is None):
        raise ValueError(f"give exactly one of {which}_amount or {which}_percent")
    if amount is not None and amount < 0:
        raise ValueError(f"{which}_amount must not be negative")
    if percent is not None:
        _check_percent(f"{which}_percent", percent)


def _check_percent(name: str, percent: Decimal) -> None:
    # NaN fails every comparison, so is_finite() comes first.
    if not percent.is_finite() or not 0 <= percent <= 100:
        raise ValueError(f"{name} must be from 0 to 100")


@dataclass(frozen=True, slots=True)
class FeeContext:
    """An installment's standing when a step is assessed; all amounts >= 0."""

    overdue: int
    plan_amount: int
    on_installment: int
    on_plan: int
    on_customer_12_months: int


def steps_reached(policy: LateFeeRules, due_date: date, as_of: date) -> tuple[int, ...]:
    """The fee steps an installment still unpaid on `as_of` has reached: (), (1,) or (1, 2).

    Step 1 once more than `grace_days` late; step 2 once more than grace + second_after_days.
    """
    late = (as_of - due_date).days
    if late <= policy.grace_days:
        return ()
    if policy.second_after_days is None or late <= policy.grace_days + policy.second_after_days:
        return (1,)
    return (1, 2)


def fee_for_step(policy: LateFeeRules, step: int, ctx: FeeContext) -> int:
    """The fee `step` adds, cut down to what every cap still allows; never below 0."""
    if step == 1:
        amount, percent = policy.first_amount, policy.first_percent
    elif step == 2 and policy.has_second_fee:
        amount, percent = policy.second_amount, policy.second_percent
    else:
        raise ValueError(f"this policy has no late fee step {step}")
    if ctx.overdue <= 0:
        return 0
    fee = amount if percent is None else percent_of(ctx.overdue, percent)
    assert fee is not None
    room = [fee]
    if policy.cap_per_installment is not None:
        room.append(policy.cap_per_installment - ctx.on_installment)
    plan_cap = policy.plan_cap(ctx.plan_amount)
    if plan_cap is not None:
        room.append(plan_cap - ctx.on_plan)
    if policy.cap_per_customer_12_months is not None:
        room.append(policy.cap_per_customer_12_months - ctx.on_customer_12_months)
    return max(0, min(room))

"""Should this customer get credit under this product? Decided from their history here."""

from __future__ import annotations

import uuid

from app import clock
from app.db import Connection
from app.eligibility import repository
from app.eligibility.repository import History
from app.eligibility.schemas import EligibilityRequest, EligibilityResult, Reason
from app.errors import Problem
from app.products import offers
from app.products.schemas import EligibilityRules, ProductDefinition
from app.quotes import service as quotes


def counts_plans(rules: EligibilityRules) -> bool:
    """Whether the rules count the customer's plans, which another of their checkouts can change
    at the same moment: plan creation decides those under the customer's lock, on counts read
    after it. (Delinquency is not changed by a creation, so a read before the lock will do.)"""
    return (
        rules.max_active_plans_per_customer is not None
        or rules.max_new_plans_per_365_days is not None
    )


def decide(
    definition: ProductDefinition, amount: int, currency: str, past: History
) -> list[Reason]:
    """Why the customer, with this history here, may not have this credit of `amount` in
    `currency` under the product: no reasons, eligible. The one place eligibility is decided:
    the eligibility endpoint and plan creation both ask it."""
    reasons: list[Reason] = []
    if currency != definition.currency:
        reasons.append(
            Reason(
                code="currency_mismatch",
                message=f"This product lends in {definition.currency}, not {currency}",
            )
        )
    if amount < definition.min_amount:
        reasons.append(
            Reason(
                code="amount_below_minimum",
                message=f"The amount is below the product's minimum of {definition.min_amount}",
            )
        )
    elif amount > definition.max_amount:
        reasons.append(
            Reason(
                code="amount_above_maximum",
                message=f"The amount is above the product's maximum of {definition.max_amount}",
            )
        )
    elif not offers.qualifying_offers(definition, amount):
        reasons.append(
            Reason(code="no_offer_for_amount", message="No offer of this product fits the amount")
        )
    rules = definition.eligibility
    open_plans, recent_plans, bad_plans = past.open_plans, past.recent_plans, past.bad_plans
    limit = rules.max_active_plans_per_customer
    if limit is not None and open_plans >= limit:
        reasons.append(
            Reason(
                code="too_many_active_plans",
                message=f"The customer has {open_plans} open plan(s); the limit is {limit}",
            )
        )
    limit = rules.max_new_plans_per_365_days
    if limit is not None and recent_plans >= limit:
        reasons.append(
            Reason(
                code="too_many_new_plans",
                message=f"The customer has had {recent_plans} new plan(s) in the last 365 days;"
                f" the limit is {limit}",
            )
        )
    if rules.block_if_delinquent and bad_plans:
        reasons.append(
            Reason(
                code="customer_delinquent",
                message="The customer has a plan that is delinquent or in default",
            )
        )
    return reasons


def not_eligible(reasons: list[Reason]) -> Problem:
    return Problem(
        422,
        "not-eligible",
        "Customer not eligible",
        "; ".join(r.message for r in reasons),
        reasons=[r.model_dump() for r in reasons],
    )


async def check(
    conn: Connection, merchant_id: uuid.UUID, request: EligibilityRequest
) -> EligibilityResult:
    product, _, past = await repository.product_and_history(
        conn, merchant_id, request.product_id, request.customer_id
    )
    definition = product.definition
    reasons = decide(definition, request.amount, request.currency, past)
    if reasons:
        return EligibilityResult(eligible=False, reasons=reasons, offers=[])
    return EligibilityResult(
        eligible=True,
        reasons=[],
        offers=quotes.offer_quotes(definition, request.amount, clock.today()),
    )

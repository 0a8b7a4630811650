"""Should this customer get credit under this product? Decided from their history here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import driver
from app.eligibility.schemas import EligibilityRequest, EligibilityResult, Reason
from app.errors import Problem
from app.products import offers
from app.products.schemas import EligibilityRules, ProductDefinition
from app.products.service import current_definition
from app.quotes import service as quotes

OPEN_STATUSES = ("pending", "active")
BAD_STANDING_STATES = ("delinquent", "default")
BAD_STANDING_STATUSES = ("defaulted", "charged_off")


@dataclass(frozen=True, slots=True)
class History:
    """The customer's plans here, as the eligibility rules count them."""

    open_plans: int
    recent_plans: int
    bad_plans: int


# The customer's history: $1 merchant, $2 customer, then `history_args()`. A statement that
# wants it too (plan creation) embeds it with the same parameters.
HISTORY_SQL = """
    SELECT
        count(*) FILTER (WHERE status = ANY($3::text[])) AS open_plans,
        count(*) FILTER (WHERE start_date > $4::date AND status <> 'cancelled') AS recent_plans,
        count(*) FILTER (WHERE delinquency_state = ANY($5::text[]) OR status = ANY($6::text[]))
            AS bad_plans
    FROM plans WHERE merchant_id = $1 AND customer_id = $2
"""


def history_args() -> tuple[list[str], date, list[str], list[str]]:
    year_ago = clock.today() - timedelta(days=365)
    return list(OPEN_STATUSES), year_ago, list(BAD_STANDING_STATES), list(BAD_STANDING_STATUSES)


async def history(conn: asyncpg.Connection, merchant_id: uuid.UUID, customer_id: str) -> History:
    row = await conn.fetchrow(HISTORY_SQL, merchant_id, customer_id, *history_args())
    assert row is not None  # an aggregate always has its one row
    return History(*row)


def reads_history(rules: EligibilityRules) -> bool:
    return (
        rules.max_active_plans_per_customer is not None
        or rules.max_new_plans_per_365_days is not None
        or rules.block_if_delinquent
    )


def customer_lock(merchant_id: uuid.UUID, customer_id: str) -> str:
    """The key of the advisory lock that serializes the decisions on one customer, so two
    checkouts at once cannot both pass a limit; hashed by `hashtextextended(key, 0)`."""
    return f"customer:{merchant_id}:{customer_id}"


def reasons_against(
    definition: ProductDefinition, amount: int, currency: str, past: History | None
) -> list[Reason]:
    """Why the customer may not have this credit; `past` is read when `reads_history`."""
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
    if past is None or not reads_history(rules):
        return reasons
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
    session: AsyncSession, merchant_id: uuid.UUID, request: EligibilityRequest
) -> EligibilityResult:
    conn = await driver(session)
    product = await current_definition(conn, merchant_id, request.product_id)
    definition = product.definition
    past = None
    if reads_history(definition.eligibility):
        past = await history(conn, merchant_id, request.customer_id)
    reasons = reasons_against(definition, request.amount, request.currency, past)
    if reasons:
        return EligibilityResult(eligible=False, reasons=reasons, offers=[])
    return EligibilityResult(
        eligible=True,
        reasons=[],
        offers=quotes.offer_quotes(definition, request.amount, clock.today()),
    )

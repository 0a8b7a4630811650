"""Should this customer get credit under this product? Decided from their history here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import driver
from app.eligibility.schemas import EligibilityRequest, EligibilityResult, Reason
from app.engine import status
from app.errors import Problem, not_found
from app.idempotency import Read
from app.products import offers
from app.products.schemas import EligibilityRules, ProductDefinition
from app.products.service import CURRENT_SQL, VersionedProduct, current_found
from app.quotes import service as quotes

# The engine's classification (app.engine.status), as the SQL's array parameters.
OPEN_STATUSES = tuple(status.values(status.COUNTED_OPEN))
BAD_STANDING_STATES = tuple(status.values(status.BAD_STANDING_STATES))
BAD_STANDING_STATUSES = tuple(status.values(status.BAD_STANDING_STATUSES))


@dataclass(frozen=True, slots=True)
class History:
    """The customer's plans here, as the eligibility rules count them."""

    open_plans: int
    recent_plans: int
    bad_plans: int


# No plans at all: what the rules see of a customer's history when another check decides on it.
NO_HISTORY = History(0, 0, 0)


def bad_standing_sql(states: str, statuses: str) -> str:
    """An SQL condition on a plans row: in bad standing. The arguments are the placeholders of
    BAD_STANDING_STATES and BAD_STANDING_STATUSES ("$n")."""
    return f"(delinquency_state = ANY({states}::text[]) OR status = ANY({statuses}::text[]))"


# The product's current version (products.service.CURRENT_SQL: $1 merchant, $2 product) and the
# customer's history ($3 customer, then the statuses and the date of `product_and_history_read`),
# in one statement. Eligibility answers from it; plan creation reads it with its idempotency claim.
PRODUCT_AND_HISTORY = f"""
    SELECT product.*, past.* FROM ({CURRENT_SQL}) AS product CROSS JOIN (
        SELECT
            count(*) FILTER (WHERE status = ANY($4::text[])) AS open_plans,
            count(*) FILTER (WHERE start_date > $5::date AND status <> 'cancelled')
                AS recent_plans,
            count(*) FILTER (WHERE {bad_standing_sql("$6", "$7")}) AS bad_plans
        FROM plans WHERE merchant_id = $1 AND customer_id = $3
    ) AS past
"""  # noqa: S608 (composed of constant SQL)


def product_and_history_read(product_id: uuid.UUID, customer_id: str) -> Read:
    """PRODUCT_AND_HISTORY, to ride on an idempotency claim (`found_with_history` reads it)."""
    year_ago = clock.today() - timedelta(days=365)
    args = (list(OPEN_STATUSES), year_ago, list(BAD_STANDING_STATES), list(BAD_STANDING_STATUSES))
    return Read(PRODUCT_AND_HISTORY, (product_id, customer_id, *args))


def found_with_history(
    product_id: uuid.UUID, row: asyncpg.Record | None
) -> tuple[VersionedProduct, str, History]:
    """The product, its merchant's name and the customer's history, from a PRODUCT_AND_HISTORY
    row; a 404 problem when the merchant has no such product."""
    if row is None:
        raise not_found("product")
    product, merchant_name = current_found(product_id, row)
    return product, merchant_name, History(row["open_plans"], row["recent_plans"], row["bad_plans"])


async def product_and_history(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, product_id: uuid.UUID, customer_id: str
) -> tuple[VersionedProduct, str, History]:
    read = product_and_history_read(product_id, customer_id)
    return found_with_history(product_id, await conn.fetchrow(read.sql, merchant_id, *read.args))


def counts_plans(rules: EligibilityRules) -> bool:
    """Whether the rules count the customer's plans, which another of their checkouts can change
    at the same moment: plan creation decides those under the customer's lock, on counts read
    after it. (Delinquency is not changed by a creation, so a read before the lock will do.)"""
    return (
        rules.max_active_plans_per_customer is not None
        or rules.max_new_plans_per_365_days is not None
    )


def customer_lock(merchant_id: uuid.UUID, customer_id: str) -> str:
    """The key of the advisory lock that serializes the decisions on one customer, so two
    checkouts at once cannot both pass a limit; hashed by `hashtextextended(key, 0)`."""
    return f"customer:{merchant_id}:{customer_id}"


def reasons_against(
    definition: ProductDefinition, amount: int, currency: str, past: History
) -> list[Reason]:
    """Why the customer may not have this credit."""
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
    session: AsyncSession, merchant_id: uuid.UUID, request: EligibilityRequest
) -> EligibilityResult:
    conn = await driver(session)
    product, _, past = await product_and_history(
        conn, merchant_id, request.product_id, request.customer_id
    )
    definition = product.definition
    reasons = reasons_against(definition, request.amount, request.currency, past)
    if reasons:
        return EligibilityResult(eligible=False, reasons=reasons, offers=[])
    return EligibilityResult(
        eligible=True,
        reasons=[],
        offers=quotes.offer_quotes(definition, request.amount, clock.today()),
    )

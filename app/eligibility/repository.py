"""Eligibility's read: a product's current version and the customer's history, in one statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from app import clock
from app.engine import status
from app.errors import not_found
from app.idempotency.service import ClaimRead
from app.products.repository import CURRENT_SQL, VersionedProduct, current_found

# The engine's classification (app.engine.status), as the SQL's array parameters.
OPEN_STATUSES = status.values(status.COUNTED_OPEN)
BAD_STANDING_STATES = status.values(status.BAD_STANDING_STATES)
BAD_STANDING_STATUSES = status.values(status.BAD_STANDING_STATUSES)
# A cancelled plan was never made, as far as the customer's new plans are concerned.
NOT_MADE = [status.PlanStatus.CANCELLED.value]


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
    BAD_STANDING_STATES and BAD_STANDING_STATUSES."""
    return f"(delinquency_state = ANY({states}::text[]) OR status = ANY({statuses}::text[]))"


# The product's current version (products.repository.CURRENT_SQL: $1 merchant, $2 product) and
# the customer's history ($3 customer, then the statuses and the date of `product_and_history_read`)
# in one statement.
PRODUCT_AND_HISTORY = f"""
    SELECT product.*, past.* FROM ({CURRENT_SQL}) AS product CROSS JOIN (
        SELECT
            count(*) FILTER (WHERE status = ANY($4::text[])) AS open_plans,
            count(*) FILTER (WHERE start_date > $5::date AND status <> ALL($8::text[]))
                AS recent_plans,
            count(*) FILTER (WHERE {bad_standing_sql("$6", "$7")}) AS bad_plans
        FROM plans WHERE merchant_id = $1 AND customer_id = $3
    ) AS past
"""  # noqa: S608 (composed of constant SQL)


def product_and_history_read(product_id: uuid.UUID, customer_id: str) -> ClaimRead:
    """PRODUCT_AND_HISTORY, to ride on an idempotency claim (`found_with_history` reads it)."""
    year_ago = clock.today() - timedelta(days=365)
    args = (OPEN_STATUSES, year_ago, BAD_STANDING_STATES, BAD_STANDING_STATUSES, NOT_MADE)
    return ClaimRead(PRODUCT_AND_HISTORY, (product_id, customer_id, *args))


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


def customer_lock(merchant_id: uuid.UUID, customer_id: str) -> str:
    """The key of the advisory lock that serializes the decisions on one customer, so two
    checkouts at once cannot both pass a limit; hashed by `hashtextextended(key, 0)`."""
    return f"customer:{merchant_id}:{customer_id}"

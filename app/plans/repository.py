"""Plan creation's write, on asyncpg: it is the busiest write of the service. A plan is one
statement with its answer under the Idempotency-Key (idempotency.at_once), on the product this
process read last; else the claim-first flow reads what it needs with the claim
(eligibility.service.product_and_history_read) and writes the plan in one more statement."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from app.db import advisory_lock_sql
from app.eligibility.service import BAD_STANDING_STATES, BAD_STANDING_STATUSES, bad_standing_sql
from app.events.service import NewEvent, unnest_columns
from app.idempotency import Answer
from app.plans.schemas import PlanOut
from app.products.service import still_current_sql


def _insert_sql(answered: str) -> str:
    """The plan, its schedule lines, its agreement and its events, written only if `answered`
    (a statement that stores the request's answer under its Idempotency-Key, RETURNING a row)
    stored it. The foreign keys of the lines and the agreement are checked at the end of the
    statement, when the plan row exists."""
    return f"""
WITH answered AS ({answered}), plan AS (
    INSERT INTO plans (
        id, merchant_id, customer_id, order_id, product_id, product_version, status, currency,
        amount, deposit_amount, amount_financed, finance_charge, total_of_payments,
        total_sale_price, apr, start_date, first_due_date, last_due_date, terms, metadata,
        requires_agreement, created_at, updated_at
    )
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
           $19::text::jsonb, $20::text::jsonb, $21, $22, $23
    FROM answered
), lines AS (
    INSERT INTO installments
        (id, merchant_id, plan_id, sequence, kind, due_date, principal, interest, fee, status)
    SELECT l.id, $2, $1, l.sequence, l.kind, l.due_date, l.principal, l.interest, l.fee, l.status
    FROM answered, unnest($24::uuid[], $25::int[], $26::text[], $27::date[], $28::bigint[],
                          $29::bigint[], $30::bigint[], $31::text[])
        AS l(id, sequence, kind, due_date, principal, interest, fee, status)
), agreement AS (
    INSERT INTO agreements (id, merchant_id, plan_id, html, sha256)
    SELECT $32, $2, $1, $33, $34 FROM answered
), events AS (
    INSERT INTO events (merchant_id, plan_id, type, data)
    SELECT $2, $1, e.type, e.data::jsonb
    FROM answered, unnest($35::text[], $36::text[]) WITH ORDINALITY AS e(type, data, n)
    ORDER BY e.n
)
SELECT count(*) FROM answered
"""  # noqa: S608 (composed of constant SQL)


# In the claim-first flow (idempotency.idempotent), the key was claimed in this transaction.
_INSERT = _insert_sql("""
    UPDATE idempotency_keys SET response_status = $38, response_body = $39
    WHERE merchant_id = $2 AND key = $37
    RETURNING key
""")

# idempotency.at_once: the answer is stored under its key, and the plan written, only if the key
# is new, the product still at the version the plan was made under and the merchant still named
# as the agreement says, and the customer in good standing when the product asks for it; the
# customer's lock (eligibility.customer_lock) is held to the end, as in the claim-first flow.
# Composed of constant SQL and placeholders.
_INSERT_AT_ONCE = _insert_sql(f"""
    INSERT INTO idempotency_keys
        (merchant_id, key, response_status, response_body, request_hash, expires_at)
    SELECT $2, $37, $38, $39, $40, $41
    WHERE {still_current_sql("$2", "$5", "$6", "$42")}
      AND NOT ($43::bool AND EXISTS (
          SELECT FROM plans
          WHERE merchant_id = $2 AND customer_id = $3 AND {bad_standing_sql("$44", "$45")}
      ))
      AND {advisory_lock_sql("$46")}
    ON CONFLICT DO NOTHING
    RETURNING key
""")  # noqa: S608


@dataclass(frozen=True, slots=True)
class Guard:
    """What the plan was made on, for the one-statement write (`_INSERT_AT_ONCE`) to check."""

    merchant_name: str
    block_if_delinquent: bool
    customer_lock: str


@dataclass(frozen=True, slots=True)
class NewAgreement:
    id: uuid.UUID
    html: str
    sha256: bytes


async def insert_plan(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    plan: PlanOut,
    agreement: NewAgreement,
    events: Sequence[NewEvent],
    answer: Answer,
    guard: Guard | None = None,
) -> bool:
    """Write the plan exactly as `plan` (the answer about to be sent) shows it, and store that
    answer under its Idempotency-Key: under a key claimed in this transaction, or with `guard`
    (idempotency.at_once) under a new key, if the guard holds. Whether it wrote."""
    lines = plan.installments
    args = [
        plan.id,
        merchant_id,
        plan.customer_id,
        plan.order_id,
        plan.product_id,
        plan.product_version,
        plan.status.value,
        plan.currency,
        plan.amount,
        plan.deposit_amount,
        plan.amount_financed,
        plan.finance_charge,
        plan.total_of_payments,
        plan.total_sale_price,
        Decimal(plan.apr),
        plan.start_date,
        plan.first_due_date,
        plan.last_due_date,
        plan.terms.model_dump_json(),
        json.dumps(plan.metadata),
        plan.agreement.required,
        plan.created_at,
        plan.updated_at,
        [line.id for line in lines],
        [line.sequence for line in lines],
        [line.kind for line in lines],
        [line.due_date for line in lines],
        [line.principal for line in lines],
        [line.interest for line in lines],
        [line.fee for line in lines],
        [line.status.value for line in lines],
        agreement.id,
        agreement.html,
        agreement.sha256,
        *unnest_columns(events),
    ]
    if guard is None:
        written = await conn.fetchval(_INSERT, *args, *answer.store_with(plan))
        if written != 1:
            raise RuntimeError(f"the Idempotency-Key {answer.key!r} claimed was not found")
        return True
    written = await conn.fetchval(
        _INSERT_AT_ONCE,
        *args,
        *answer.store_new_with(plan),
        guard.merchant_name,
        guard.block_if_delinquent,
        list(BAD_STANDING_STATES),
        list(BAD_STANDING_STATUSES),
        guard.customer_lock,
    )
    return bool(written)

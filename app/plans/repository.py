"""Plan creation's write, on asyncpg: it is the busiest write of the service, so it reads what it
needs with the idempotency claim (eligibility.service.product_and_history_read) and writes a plan
in one statement."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from app.events.service import NewEvent, unnest_columns
from app.idempotency import Answer
from app.plans.schemas import PlanOut

# The plan, its schedule lines, its agreement and its events. The foreign keys of the lines and
# the agreement are checked at the end of the statement, when the plan row exists.
_INSERT = """
WITH plan AS (
    INSERT INTO plans (
        id, merchant_id, customer_id, order_id, product_id, product_version, status, currency,
        amount, deposit_amount, amount_financed, finance_charge, total_of_payments,
        total_sale_price, apr, start_date, first_due_date, last_due_date, terms, metadata,
        requires_agreement, created_at, updated_at
    )
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19::text::jsonb, $20::text::jsonb, $21, $22, $23)
), lines AS (
    INSERT INTO installments
        (id, merchant_id, plan_id, sequence, kind, due_date, principal, interest, fee, status)
    SELECT l.id, $2, $1, l.sequence, l.kind, l.due_date, l.principal, l.interest, l.fee, l.status
    FROM unnest($24::uuid[], $25::int[], $26::text[], $27::date[], $28::bigint[], $29::bigint[],
                $30::bigint[], $31::text[])
        AS l(id, sequence, kind, due_date, principal, interest, fee, status)
), agreement AS (
    INSERT INTO agreements (id, merchant_id, plan_id, html, sha256) VALUES ($32, $2, $1, $33, $34)
), answered AS (
    UPDATE idempotency_keys SET response_status = $38, response_body = $39
    WHERE merchant_id = $2 AND key = $37
)
INSERT INTO events (merchant_id, plan_id, type, data)
SELECT $2, $1, e.type, e.data::jsonb
FROM unnest($35::text[], $36::text[]) WITH ORDINALITY AS e(type, data, n)
ORDER BY e.n
"""


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
) -> None:
    """Write the plan exactly as `plan` (the answer about to be sent) shows it, and store that
    answer under its Idempotency-Key."""
    lines = plan.installments
    await conn.execute(
        _INSERT,
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
        *answer.store_with(plan),
    )

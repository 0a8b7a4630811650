"""Plans' statements. A plan is written in one statement with its lines, agreement, events and
its answer under the Idempotency-Key (`insert`); it is read through the ORM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import advisory_lock_sql
from app.eligibility.repository import BAD_STANDING_STATES, BAD_STANDING_STATUSES, bad_standing_sql
from app.engine.delinquency import DelinquencyState
from app.engine.installments import InstallmentStatus
from app.engine.status import PlanStatus
from app.errors import not_found
from app.events.repository import insert_listed_events, listed
from app.idempotency.repository import store_claimed_sql, store_new_sql
from app.models import Acceptance, Installment, Plan
from app.plans.draft import PlanDraft, PlanLine, PlanRecord
from app.products.repository import still_current_sql
from app.products.schemas import Terms
from app.sql import statement


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
        requires_agreement, delinquency_state, days_past_due, delinquency_since, created_at,
        updated_at
    )
    SELECT :id, :merchant_id, :customer_id, :order_id, :product_id, :product_version, :status,
        :currency, :amount, :deposit_amount, :amount_financed, :finance_charge,
        :total_of_payments, :total_sale_price, :apr, :start_date, :first_due_date,
        :last_due_date, :terms::text::jsonb, :metadata::text::jsonb, :requires_agreement,
        :delinquency_state, :days_past_due, :delinquency_since, :created_at, :updated_at
    FROM answered
), lines AS (
    INSERT INTO installments
        (id, merchant_id, plan_id, sequence, kind, due_date, principal, interest, fee, status)
    SELECT l.id, :merchant_id, :id, l.sequence, l.kind, l.due_date, l.principal, l.interest,
        l.fee, l.status
    FROM answered, unnest(:line_ids::uuid[], :line_sequences::int[], :line_kinds::text[],
                          :line_due_dates::date[], :line_principals::bigint[],
                          :line_interests::bigint[], :line_fees::bigint[],
                          :line_statuses::text[])
        AS l(id, sequence, kind, due_date, principal, interest, fee, status)
), agreement AS (
    INSERT INTO agreements (id, merchant_id, plan_id, html, sha256)
    SELECT :agreement_id, :merchant_id, :id, :agreement_html, :agreement_sha256 FROM answered
), events AS (
    {insert_listed_events(":merchant_id", ":id", "WHERE EXISTS (SELECT FROM answered)")}
)
SELECT count(*) FROM answered
"""  # noqa: S608 (composed of constant SQL)


# After an idempotency claim in this transaction (idempotency.service.idempotent).
_INSERT = statement(_insert_sql(store_claimed_sql()))

# In one statement (idempotency.service.in_one_statement): the answer is stored under its key,
# and the plan written, only if the key is new, the product still at the version the plan was
# made under and the merchant still named as the agreement says, and the customer in good
# standing when the product asks for it; the customer's lock is held to the end, as in the
# claim-first flow.
_INSERT_GUARDED = statement(
    _insert_sql(
        store_new_sql(f"""
        {still_current_sql(":merchant_id", ":product_id", ":product_version", ":merchant_name")}
        AND NOT (:block_if_delinquent::bool AND EXISTS (
            SELECT FROM plans
            WHERE merchant_id = :merchant_id AND customer_id = :customer_id
              AND {bad_standing_sql(":bad_states", ":bad_statuses")}
        ))
        AND {advisory_lock_sql(":customer_lock")}""")
    )
)


@dataclass(frozen=True, slots=True)
class Guard:
    """What a plan written in one statement was drafted on, for the statement to check."""

    merchant_name: str
    block_if_delinquent: bool
    customer_lock: str


def _values(draft: PlanDraft) -> dict[str, Any]:
    plan, lines, agreement = draft.plan, draft.lines, draft.agreement
    return {
        "id": plan.id,
        "merchant_id": draft.merchant_id,
        "customer_id": plan.customer_id,
        "order_id": plan.order_id,
        "product_id": plan.product_id,
        "product_version": plan.product_version,
        "status": plan.status.value,
        "currency": plan.currency,
        "amount": plan.amount,
        "deposit_amount": plan.deposit_amount,
        "amount_financed": plan.amount_financed,
        "finance_charge": plan.finance_charge,
        "total_of_payments": plan.total_of_payments,
        "total_sale_price": plan.total_sale_price,
        "apr": plan.apr,
        "start_date": plan.start_date,
        "first_due_date": plan.first_due_date,
        "last_due_date": plan.last_due_date,
        "terms": plan.terms.model_dump_json(),
        "metadata": json.dumps(plan.metadata),
        "requires_agreement": plan.requires_agreement,
        "delinquency_state": plan.delinquency_state.value,
        "days_past_due": plan.days_past_due,
        "delinquency_since": plan.delinquency_since,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "line_ids": [line.id for line in lines],
        "line_sequences": [line.sequence for line in lines],
        "line_kinds": [line.kind for line in lines],
        "line_due_dates": [line.due_date for line in lines],
        "line_principals": [line.principal for line in lines],
        "line_interests": [line.interest for line in lines],
        "line_fees": [line.fee for line in lines],
        "line_statuses": [line.status.value for line in lines],
        "agreement_id": agreement.id,
        "agreement_html": agreement.html,
        "agreement_sha256": agreement.sha256,
        **listed(draft.events),
    }


async def insert(conn: asyncpg.Connection, draft: PlanDraft, answer: dict[str, object]) -> None:
    """Write the plan drafted, and store `answer` (idempotency `stored_answer`) under the key
    claimed in this transaction."""
    written = await conn.fetchval(_INSERT.text, *_INSERT.args({**_values(draft), **answer}))
    if written != 1:
        raise RuntimeError(f"the Idempotency-Key {answer['idempotency_key']!r} was not claimed")


async def insert_guarded(
    conn: asyncpg.Connection, draft: PlanDraft, answer: dict[str, object], guard: Guard
) -> bool:
    """Write the plan drafted with `answer` (idempotency `new_key`) under a new key, in one
    statement, if the key is new and `guard` holds; whether it wrote."""
    values = {
        **_values(draft),
        **answer,
        "merchant_name": guard.merchant_name,
        "block_if_delinquent": guard.block_if_delinquent,
        "bad_states": BAD_STANDING_STATES,
        "bad_statuses": BAD_STANDING_STATUSES,
        "customer_lock": guard.customer_lock,
    }
    return bool(await conn.fetchval(_INSERT_GUARDED.text, *_INSERT_GUARDED.args(values)))


def _record(plan: Plan) -> PlanRecord:
    return PlanRecord(
        id=plan.id,
        status=PlanStatus(plan.status),
        customer_id=plan.customer_id,
        order_id=plan.order_id,
        product_id=plan.product_id,
        product_version=plan.product_version,
        amount=plan.amount,
        currency=plan.currency,
        deposit_amount=plan.deposit_amount,
        amount_financed=plan.amount_financed,
        finance_charge=plan.finance_charge,
        total_of_payments=plan.total_of_payments,
        total_sale_price=plan.total_sale_price,
        apr=plan.apr,
        start_date=plan.start_date,
        first_due_date=plan.first_due_date,
        last_due_date=plan.last_due_date,
        terms=Terms.model_validate(plan.terms),
        metadata=plan.plan_metadata,
        requires_agreement=plan.requires_agreement,
        credit_balance=plan.credit_balance,
        delinquency_state=DelinquencyState(plan.delinquency_state),
        days_past_due=plan.days_past_due,
        delinquency_since=plan.delinquency_since,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def _line(row: Installment) -> PlanLine:
    return PlanLine(
        id=row.id,
        sequence=row.sequence,
        kind=row.kind,
        due_date=row.due_date,
        principal=row.principal,
        interest=row.interest,
        fee=row.fee,
        late_fee=row.late_fee,
        amount=row.amount,
        amount_paid=row.amount_paid,
        status=InstallmentStatus(row.status),
    )


# A plan as read: its record, the lines of its current schedule, and when its agreement was
# accepted.
ReadPlan = tuple[PlanRecord, list[PlanLine], datetime | None]


async def _with_lines(session: AsyncSession, plans: Sequence[Plan]) -> list[ReadPlan]:
    if not plans:
        return []
    merchant_id = plans[0].merchant_id
    ids = [p.id for p in plans]
    rows = (
        await session.execute(
            select(Installment)
            .where(Installment.merchant_id == merchant_id, Installment.plan_id.in_(ids))
            .order_by(Installment.sequence)
        )
    ).scalars()
    by_plan: dict[uuid.UUID, list[PlanLine]] = {i: [] for i in ids}
    versions = {p.id: p.schedule_version for p in plans}
    for row in rows:
        if row.schedule_version == versions[row.plan_id]:
            by_plan[row.plan_id].append(_line(row))
    acceptances = await session.execute(
        select(Acceptance.plan_id, Acceptance.accepted_at).where(
            Acceptance.merchant_id == merchant_id, Acceptance.plan_id.in_(ids)
        )
    )
    accepted = {row[0]: row[1] for row in acceptances}
    return [(_record(p), by_plan[p.id], accepted.get(p.id)) for p in plans]


async def _plan(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> Plan:
    query = select(Plan).where(Plan.id == plan_id, Plan.merchant_id == merchant_id)
    plan = (await session.execute(query)).scalar_one_or_none()
    if plan is None:
        raise not_found("plan")
    return plan


async def get(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> ReadPlan:
    """The merchant's plan (a 404 problem when it has none with this id)."""
    return (await _with_lines(session, [await _plan(session, merchant_id, plan_id)]))[0]


async def check_exists(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> None:
    """A 404 problem unless the merchant has this plan."""
    await _plan(session, merchant_id, plan_id)


async def page(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    *,
    customer_id: str | None,
    order_id: str | None,
    status: PlanStatus | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[ReadPlan]:
    """The merchant's plans, newest first, before the cursor."""
    query = select(Plan).where(Plan.merchant_id == merchant_id)
    if customer_id is not None:
        query = query.where(Plan.customer_id == customer_id)
    if order_id is not None:
        query = query.where(Plan.order_id == order_id)
    if status is not None:
        query = query.where(Plan.status == status.value)
    if before is not None:
        query = query.where(Plan.id < before)
    rows = list((await session.execute(query.order_by(Plan.id.desc()).limit(limit))).scalars())
    return await _with_lines(session, rows)

"""Bringing plans to a date: installment statuses and delinquency, set-based.

The same statements serve one plan right after a payment and thousands in a sweep batch, so the
two can never disagree. They mirror the engine's rules (app.engine.installments and
app.engine.delinquency); tests/delinquency checks that they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Date, Uuid

# Every statement starts from the batch of plans (a small, materialized set) and reaches the
# installments through their plan_id index, so its cost follows the batch, not the book.
_STATUSES = text(
    """
    UPDATE installments AS i
    SET status = n.status,
        paid_at = CASE WHEN n.status = 'paid' THEN coalesce(i.paid_at, now()) END
    FROM (
        SELECT i.id,
            CASE
                WHEN i.amount + i.late_fee - i.amount_paid <= 0 THEN 'paid'
                WHEN i.due_date < :as_of THEN 'overdue'
                WHEN i.amount_paid > 0 THEN 'partially_paid'
                WHEN i.due_date = :as_of THEN 'due'
                ELSE 'scheduled'
            END AS status
        FROM plans AS p
        JOIN installments AS i ON i.plan_id = p.id AND i.schedule_version = p.schedule_version
        WHERE p.id = ANY(:ids)
    ) AS n
    WHERE i.id = n.id AND i.plan_id = ANY(:ids) AND i.status <> n.status
    """
).bindparams(bindparam("ids", type_=ARRAY(Uuid)), bindparam("as_of", type_=Date))

_DELINQUENCY = text(
    """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.status AS old_status, p.delinquency_state AS old_state,
            p.schedule_version,
            coalesce((v.definition -> 'late_fees' ->> 'grace_days')::int, 0) AS grace,
            (v.definition ->> 'default_after_days')::int AS default_after,
            coalesce((v.definition ->> 'past_due_tolerance')::bigint, 0) AS tolerance
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY(:ids)
    ), oldest AS (
        SELECT b.id, min(i.due_date) AS oldest_due
        FROM batch AS b
        JOIN installments AS i ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
        WHERE i.due_date < :as_of AND i.amount + i.late_fee - i.amount_paid > b.tolerance
        GROUP BY b.id
    ), assessed AS (
        SELECT b.*, o.oldest_due, coalesce(:as_of - o.oldest_due, 0) AS days
        FROM batch AS b LEFT JOIN oldest AS o ON o.id = b.id
    ), next AS (
        SELECT a.*,
            CASE
                WHEN a.days <= 0 THEN 'current'
                WHEN a.days >= a.default_after THEN 'default'
                WHEN a.days <= a.grace THEN 'late'
                ELSE 'delinquent'
            END AS state
        FROM assessed AS a
    ), changed AS (
        UPDATE plans AS p SET
            days_past_due = n.days,
            delinquency_state = n.state,
            delinquency_since = CASE
                WHEN n.state = n.old_state THEN p.delinquency_since
                WHEN n.state = 'late' THEN n.oldest_due + 1
                WHEN n.state = 'delinquent' THEN n.oldest_due + n.grace + 1
                WHEN n.state = 'default' THEN n.oldest_due + n.default_after
                ELSE :as_of
            END,
            status = CASE
                WHEN n.state = 'default' AND p.status = 'active' THEN 'defaulted'
                WHEN n.state <> 'default' AND p.status = 'defaulted' THEN 'active'
                ELSE p.status
            END,
            updated_at = now()
        FROM next AS n
        WHERE p.id = n.id AND p.id = ANY(:ids)
          AND (p.days_past_due, p.delinquency_state) IS DISTINCT FROM (n.days, n.state)
        RETURNING p.id, p.merchant_id, p.status, p.delinquency_since,
            n.old_status, n.old_state, n.state, n.days
    )
    INSERT INTO events (merchant_id, plan_id, type, effective_date, data)
    SELECT merchant_id, id, kind, :as_of, data FROM (
        SELECT merchant_id, id, 1 AS ord, 'plan.delinquency_changed' AS kind,
            jsonb_build_object('from', old_state, 'to', state, 'days_past_due', days,
                               'since', delinquency_since) AS data
        FROM changed WHERE old_state <> state
        UNION ALL
        SELECT merchant_id, id, 2, 'plan.defaulted', jsonb_build_object('days_past_due', days)
        FROM changed WHERE status = 'defaulted' AND old_status <> 'defaulted'
        UNION ALL
        SELECT merchant_id, id, 3, 'plan.cured', jsonb_build_object('days_past_due', days)
        FROM changed WHERE status = 'active' AND old_status = 'defaulted'
    ) AS e
    ORDER BY id, ord
    """
).bindparams(bindparam("ids", type_=ARRAY(Uuid)), bindparam("as_of", type_=Date))


async def refresh(session: AsyncSession, plan_ids: Sequence[uuid.UUID], as_of: date) -> int:
    """Recompute installment statuses and delinquency of these plans as of a date; returns how
    many delinquency events that wrote. The caller holds the plans' row locks."""
    params = {"ids": list(plan_ids), "as_of": as_of}
    await session.execute(_STATUSES, params)
    result = await session.execute(_DELINQUENCY, params)
    return int(result.rowcount)  # type: ignore[attr-defined]

"""Bringing plans to a date: installment statuses and delinquency, set-based.

The same statements serve one plan right after a payment and thousands in a sweep batch, so the
two can never disagree. They mirror the engine's rules (app.engine.installments and
app.engine.delinquency); tests/delinquency checks that they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

# Every statement starts from the batch of plans (a small, materialized set) and reaches the
# installments through their plan_id index, so its cost follows the batch, not the book.
_STATUSES = """
    UPDATE installments AS i
    SET status = n.status,
        paid_at = CASE WHEN n.status = 'paid' THEN coalesce(i.paid_at, now()) END
    FROM (
        SELECT i.id,
            CASE
                WHEN i.amount + i.late_fee - i.amount_paid <= 0 THEN 'paid'
                WHEN i.due_date < $2::date THEN 'overdue'
                WHEN i.amount_paid > 0 THEN 'partially_paid'
                WHEN i.due_date = $2::date THEN 'due'
                ELSE 'scheduled'
            END AS status
        FROM plans AS p
        JOIN installments AS i ON i.plan_id = p.id AND i.schedule_version = p.schedule_version
        WHERE p.id = ANY($1::uuid[])
    ) AS n
    WHERE i.id = n.id AND i.plan_id = ANY($1::uuid[]) AND i.status <> n.status
    """

_DELINQUENCY = """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.status AS old_status, p.delinquency_state AS old_state,
            p.schedule_version,
            coalesce((v.definition -> 'late_fees' ->> 'grace_days')::int, 0) AS grace,
            (v.definition ->> 'default_after_days')::int AS default_after,
            coalesce((v.definition ->> 'past_due_tolerance')::bigint, 0) AS tolerance
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY($1::uuid[])
    ), oldest AS (
        SELECT b.id, min(i.due_date) AS oldest_due
        FROM batch AS b
        JOIN installments AS i ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
        WHERE i.due_date < $2::date AND i.amount + i.late_fee - i.amount_paid > b.tolerance
        GROUP BY b.id
    ), assessed AS (
        SELECT b.*, o.oldest_due, coalesce($2::date - o.oldest_due, 0) AS days
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
                ELSE $2::date
            END,
            status = CASE
                WHEN n.state = 'default' AND p.status = 'active' THEN 'defaulted'
                WHEN n.state <> 'default' AND p.status = 'defaulted' THEN 'active'
                ELSE p.status
            END,
            updated_at = now()
        FROM next AS n
        WHERE p.id = n.id AND p.id = ANY($1::uuid[])
          AND (p.days_past_due, p.delinquency_state) IS DISTINCT FROM (n.days, n.state)
        RETURNING p.id, p.merchant_id, p.status, p.delinquency_since,
            n.old_status, n.old_state, n.state, n.days
    )
    INSERT INTO events (merchant_id, plan_id, type, effective_date, data)
    SELECT merchant_id, id, kind, $2::date, data FROM (
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
    RETURNING plan_id, type
    """


async def _refresh(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date
) -> list[asyncpg.Record]:
    ids = list(plan_ids)
    await conn.execute(_STATUSES, ids, as_of)
    return await conn.fetch(_DELINQUENCY, ids, as_of)


async def refresh(conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date) -> int:
    """Recompute installment statuses and delinquency of these plans as of a date; returns how
    many delinquency events that wrote. The caller holds the plans' row locks."""
    return len(await _refresh(conn, plan_ids, as_of))


async def refresh_plan(conn: asyncpg.Connection, plan_id: uuid.UUID, as_of: date) -> str | None:
    """`refresh` for one plan; its new status when delinquency moved it into or out of
    `defaulted`, else None. The caller holds the plan's row lock."""
    moved = {row["type"] for row in await _refresh(conn, [plan_id], as_of)}
    if "plan.defaulted" in moved:
        return "defaulted"
    if "plan.cured" in moved:
        return "active"
    return None

"""Bringing plans to a date: installment statuses and delinquency, set-based.

The same statement serves one plan right after a payment and thousands in a sweep batch, so the
two can never disagree. It mirrors the engine's rules (app.engine.installments and
app.engine.delinquency); tests/servicing/test_sql_matches_engine.py checks that they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date

import asyncpg

# One statement, so the installments are read once: `owing` is every installment of the batch
# with what it will owe once the installments $3 got their late fees $4 (the sweep's new fees,
# added in this same row write), and the statuses and the delinquency both follow from it.
# Its cost follows the batch, not the book: the installments come from one scan of their
# plan_id index for the whole array of plan ids (a join from the plans would descend it once per
# plan; MATERIALIZED keeps the planner from making it that join). With $5, every plan of the
# batch is also marked swept through $2, in the same row write as its delinquency.
_REFRESH = """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.status AS old_status, p.delinquency_state AS old_state,
            p.days_past_due AS old_days, p.schedule_version,
            coalesce((v.definition -> 'late_fees' ->> 'grace_days')::int, 0) AS grace,
            (v.definition ->> 'default_after_days')::int AS default_after,
            coalesce((v.definition ->> 'past_due_tolerance')::bigint, 0) AS tolerance
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY($1::uuid[])
    ), batch_installments AS MATERIALIZED (
        SELECT id, plan_id, schedule_version, due_date, status, amount, late_fee, amount_paid
        FROM installments WHERE plan_id = ANY($1::uuid[])
    ), owing AS MATERIALIZED (
        SELECT i.id, i.plan_id, i.due_date, i.status AS old_status, b.tolerance,
            coalesce(f.amount, 0) AS added,
            i.amount + i.late_fee + coalesce(f.amount, 0) - i.amount_paid AS owed,
            CASE
                WHEN i.amount + i.late_fee + coalesce(f.amount, 0) - i.amount_paid <= 0
                    THEN 'paid'
                WHEN i.due_date < $2::date THEN 'overdue'
                WHEN i.amount_paid > 0 THEN 'partially_paid'
                WHEN i.due_date = $2::date THEN 'due'
                ELSE 'scheduled'
            END AS status
        FROM batch AS b
        JOIN batch_installments AS i
          ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
        LEFT JOIN unnest($3::uuid[], $4::bigint[]) AS f(id, amount) ON f.id = i.id
    ), installments_changed AS (
        UPDATE installments AS i
        SET late_fee = i.late_fee + o.added,
            status = o.status,
            paid_at = CASE
                WHEN o.status = o.old_status THEN i.paid_at
                WHEN o.status = 'paid' THEN coalesce(i.paid_at, now())
            END
        FROM owing AS o
        WHERE i.id = o.id AND i.plan_id = ANY($1::uuid[])
          AND (o.status <> o.old_status OR o.added <> 0)
    ), oldest AS (
        SELECT plan_id AS id, min(due_date) AS oldest_due
        FROM owing
        WHERE due_date < $2::date AND owed > tolerance
        GROUP BY plan_id
    ), assessed AS (
        SELECT b.*, o.oldest_due, coalesce($2::date - o.oldest_due, 0) AS days
        FROM batch AS b LEFT JOIN oldest AS o ON o.id = b.id
    ), staged AS (
        SELECT a.*,
            CASE
                WHEN a.days <= 0 THEN 'current'
                WHEN a.days >= a.default_after THEN 'default'
                WHEN a.days <= a.grace THEN 'late'
                ELSE 'delinquent'
            END AS state
        FROM assessed AS a
    ), next AS (
        SELECT s.*, (s.old_days, s.old_state) IS DISTINCT FROM (s.days, s.state) AS moved
        FROM staged AS s
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
                WHEN NOT n.moved THEN p.status
                WHEN n.state = 'default' AND p.status = 'active' THEN 'defaulted'
                WHEN n.state <> 'default' AND p.status = 'defaulted' THEN 'active'
                ELSE p.status
            END,
            updated_at = CASE WHEN n.moved THEN now() ELSE p.updated_at END,
            swept_through = CASE WHEN $5::boolean THEN $2::date ELSE p.swept_through END
        FROM next AS n
        WHERE p.id = n.id AND p.id = ANY($1::uuid[]) AND (n.moved OR $5::boolean)
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
    conn: asyncpg.Connection,
    plan_ids: Sequence[uuid.UUID],
    as_of: date,
    late_fees: Mapping[uuid.UUID, int],
    mark_swept: bool,
) -> list[asyncpg.Record]:
    fee_ids, fee_amounts = list(late_fees), list(late_fees.values())
    return await conn.fetch(_REFRESH, list(plan_ids), as_of, fee_ids, fee_amounts, mark_swept)


async def refresh(conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date) -> int:
    """Recompute installment statuses and delinquency of these plans as of a date; returns how
    many delinquency events that wrote. The caller holds the plans' row locks."""
    return len(await _refresh(conn, plan_ids, as_of, {}, False))


async def refresh_plan(conn: asyncpg.Connection, plan_id: uuid.UUID, as_of: date) -> str | None:
    """`refresh` for one plan; its new status when delinquency moved it into or out of
    `defaulted`, else None. The caller holds the plan's row lock."""
    moved = {row["type"] for row in await _refresh(conn, [plan_id], as_of, {}, False)}
    if "plan.defaulted" in moved:
        return "defaulted"
    if "plan.cured" in moved:
        return "active"
    return None


async def refresh_swept(
    conn: asyncpg.Connection,
    plan_ids: Sequence[uuid.UUID],
    as_of: date,
    late_fees: Mapping[uuid.UUID, int],
) -> int:
    """`refresh` for a sweep batch: first adds `late_fees` (installment id -> amount) to the
    installments, in the same row write as their statuses, and marks the plans swept through
    `as_of` in the same row write as their delinquency."""
    return len(await _refresh(conn, plan_ids, as_of, late_fees, True))

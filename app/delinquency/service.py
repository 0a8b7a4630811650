"""Bringing plans to a date: installment statuses and delinquency, set-based.

The same statement serves one plan right after a payment and thousands in a sweep batch, so the
two can never disagree. It mirrors the engine's rules (app.engine.installments, the thresholds
of app.engine.delinquency, app.engine.status.delinquency_status) and takes the engine's sets as
parameters; tests/servicing/test_sql_matches_engine.py checks that they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from app.engine.delinquency import DelinquencyState
from app.engine.status import DEFAULT_STATES, PlanStatus, values

# One statement brings a batch of plans to $2, so their installments are read once. Its cost
# follows the batch, not the book: the installments come from one scan of their plan_id index
# for the whole array of plan ids $1 (a join from the plans would descend it once per plan;
# MATERIALIZED keeps the planner from making it that join).
# - `fee`: the sweep's new late-fee steps ($3 installment, $4 step, $5 amount, $6 the day the
#   step was reached), recorded with their events; `owing` is every installment with what it
#   owes once those are added, in the same row write as its status.
# - The delinquency follows from `owing` (its state and `since` by the engine's thresholds,
#   app.engine.delinquency.first_day); with $7 (the sweep) the plans are also marked swept
#   through $2 in the same row write, and each installment still owing gets the latest rung of
#   its reminder ladder it reached, once (width_bucket: how many rungs of the sorted ladder are
#   at most its days from due).
# - The plan's status follows its delinquency (app.engine.status.delinquency_status, whatever
#   it was before: a plan left active in default by an older write is repaired too): $9 active
#   -> $10 defaulted when the state is one of $8, back when it is not.
# - The events go in one insert, in the order they happened: late fees, delinquency, reminders.
# - Out of a sweep, it also returns each plan's status, state and days past due afterwards.
_REFRESH = """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.customer_id, p.status AS old_status,
            p.delinquency_state AS old_state, p.days_past_due AS old_days, p.schedule_version,
            coalesce((v.definition -> 'late_fees' ->> 'grace_days')::int, 0) AS grace,
            (v.definition ->> 'default_after_days')::int AS default_after,
            coalesce((v.definition ->> 'past_due_tolerance')::bigint, 0) AS tolerance,
            p.product_id, p.product_version
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY($1::uuid[])
    ), ladders AS MATERIALIZED (
        SELECT v.product_id, v.version, ARRAY(
            SELECT o::int FROM jsonb_array_elements_text(v.definition -> 'reminder_days') AS o
            ORDER BY 1
        ) AS ladder
        FROM product_versions AS v
        JOIN (SELECT DISTINCT product_id, product_version FROM batch) AS k
          ON k.product_id = v.product_id AND k.product_version = v.version
        WHERE $7::boolean
    ), batch_installments AS MATERIALIZED (
        SELECT id, merchant_id, plan_id, schedule_version, sequence, due_date, status, amount,
            late_fee, amount_paid
        FROM installments WHERE plan_id = ANY($1::uuid[])
    ), fee AS MATERIALIZED (
        SELECT f.*, i.merchant_id, i.plan_id, b.customer_id
        FROM unnest($3::uuid[], $4::int[], $5::bigint[], $6::date[]) WITH ORDINALITY
            AS f(installment_id, step, amount, assessed_on, ord)
        JOIN batch_installments AS i ON i.id = f.installment_id
        JOIN batch AS b ON b.id = i.plan_id
    ), recorded AS (
        INSERT INTO late_fees
            (installment_id, step, merchant_id, customer_id, plan_id, amount, assessed_on)
        SELECT installment_id, step, merchant_id, customer_id, plan_id, amount, assessed_on
        FROM fee
    ), added AS (
        SELECT installment_id AS id, sum(amount)::bigint AS amount FROM fee GROUP BY installment_id
    ), owing AS MATERIALIZED (
        SELECT i.id, i.merchant_id, i.plan_id, i.sequence, i.due_date, i.status AS old_status,
            b.tolerance, l.ladder,
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
        LEFT JOIN added AS f ON f.id = i.id
        LEFT JOIN ladders AS l ON l.product_id = b.product_id AND l.version = b.product_version
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
        SELECT s.*, (s.old_days, s.old_state) IS DISTINCT FROM (s.days, s.state) AS moved,
            CASE
                WHEN s.old_status = $9::text AND s.state = ANY($8::text[]) THEN $10::text
                WHEN s.old_status = $10::text AND s.state <> ALL($8::text[]) THEN $9::text
                ELSE s.old_status
            END AS status
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
            status = n.status,
            updated_at = CASE
                WHEN n.moved OR n.status <> n.old_status THEN now() ELSE p.updated_at
            END,
            swept_through = CASE WHEN $7::boolean THEN $2::date ELSE p.swept_through END
        FROM next AS n
        WHERE p.id = n.id AND p.id = ANY($1::uuid[])
          AND (n.moved OR n.status <> n.old_status OR $7::boolean)
        RETURNING p.id, p.merchant_id, p.status, p.delinquency_since,
            n.old_status, n.old_state, n.state, n.days
    ), reached AS (
        SELECT o.id AS installment_id, o.merchant_id, o.plan_id, o.sequence, o.due_date, o.owed,
            o.ladder[width_bucket($2::date - o.due_date, o.ladder)] AS rung
        FROM owing AS o
        WHERE o.owed > 0
    ), sent AS (
        INSERT INTO reminders (installment_id, offset_days, merchant_id, plan_id, sent_on)
        SELECT r.installment_id, r.rung, r.merchant_id, r.plan_id, $2::date
        FROM reached AS r
        WHERE r.rung IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING installment_id, offset_days
    ), written AS (
        INSERT INTO events (merchant_id, plan_id, type, effective_date, data)
        SELECT merchant_id, plan_id, kind, effective_date, data FROM (
            SELECT merchant_id, plan_id, 0 AS part, ord, 'late_fee.assessed' AS kind,
                assessed_on AS effective_date,
                jsonb_build_object('installment_id', installment_id, 'step', step,
                                   'amount', amount) AS data
            FROM fee WHERE amount <> 0
            UNION ALL
            SELECT merchant_id, id, 1, 1, 'plan.delinquency_changed', $2::date,
                jsonb_build_object('from', old_state, 'to', state, 'days_past_due', days,
                                   'since', delinquency_since)
            FROM changed WHERE old_state <> state
            UNION ALL
            SELECT merchant_id, id, 1, 2, 'plan.defaulted', $2::date,
                jsonb_build_object('days_past_due', days)
            FROM changed WHERE status = $10::text AND old_status <> $10::text
            UNION ALL
            SELECT merchant_id, id, 1, 3, 'plan.cured', $2::date,
                jsonb_build_object('days_past_due', days)
            FROM changed WHERE status = $9::text AND old_status = $10::text
            UNION ALL
            SELECT r.merchant_id, r.plan_id, 2, r.sequence,
                CASE WHEN s.offset_days < 0 THEN 'installment.upcoming'
                     WHEN s.offset_days = 0 THEN 'installment.due'
                     ELSE 'installment.overdue' END,
                $2::date,
                jsonb_build_object('installment_id', r.installment_id, 'sequence', r.sequence,
                                   'due_date', r.due_date, 'amount_due', r.owed,
                                   'days_from_due', s.offset_days)
            FROM sent AS s JOIN reached AS r ON r.installment_id = s.installment_id
        ) AS e
        ORDER BY part, plan_id, ord
        RETURNING type
    )
    SELECT type, count(*), NULL AS status, NULL AS state, NULL::int AS days
    FROM written GROUP BY type
    UNION ALL
    SELECT NULL, NULL, n.status, n.state, n.days FROM next AS n WHERE NOT $7::boolean
    """


# The engine's sets and statuses the statement takes ($8, $9, $10).
_STATUS_ARGS = (
    values(DEFAULT_STATES),
    PlanStatus.ACTIVE.value,
    PlanStatus.DEFAULTED.value,
)


@dataclass(frozen=True, slots=True)
class Standing:
    """A plan's status and delinquency, as a refresh left them."""

    status: PlanStatus
    state: DelinquencyState
    days_past_due: int


@dataclass
class LateFeeSteps:
    """A sweep batch's new late-fee steps, column by column (the statement unnests them), in
    the order they were assessed."""

    installment_id: list[uuid.UUID] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    amount: list[int] = field(default_factory=list)
    reached_on: list[date] = field(default_factory=list)


async def _refresh(
    conn: asyncpg.Connection,
    plan_ids: Sequence[uuid.UUID],
    as_of: date,
    late_fees: LateFeeSteps | None = None,
    *,
    sweep: bool = False,
) -> tuple[dict[str, int], list[Standing]]:
    fees = late_fees or LateFeeSteps()
    rows = await conn.fetch(
        _REFRESH,
        list(plan_ids),
        as_of,
        fees.installment_id,
        fees.step,
        fees.amount,
        fees.reached_on,
        sweep,
        *_STATUS_ARGS,
    )
    counts = {row[0]: row[1] for row in rows if row[0] is not None}
    standings = [
        Standing(PlanStatus(row[2]), DelinquencyState(row[3]), row[4])
        for row in rows
        if row[0] is None
    ]
    return counts, standings


def _delinquency_events(written: Mapping[str, int]) -> int:
    return sum(n for kind, n in written.items() if kind.startswith("plan."))


async def refresh(conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date) -> int:
    """Recompute installment statuses and delinquency of these plans as of a date; returns how
    many delinquency events that wrote. The caller holds the plans' row locks."""
    return _delinquency_events((await _refresh(conn, plan_ids, as_of))[0])


async def refresh_plan(conn: asyncpg.Connection, plan_id: uuid.UUID, as_of: date) -> Standing:
    """`refresh` for one plan; its status and delinquency afterwards. The caller holds the
    plan's row lock."""
    _, (standing,) = await _refresh(conn, [plan_id], as_of)
    return standing


async def refresh_swept(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date, late_fees: LateFeeSteps
) -> tuple[int, int]:
    """`refresh` for a sweep batch, which also: records `late_fees` with their events and adds
    them to the installments in the same row write as their statuses, marks the plans swept
    through `as_of` in the same row write as their delinquency, and sends each installment
    still owing the latest rung of its reminder ladder it reached, once. Returns how many
    delinquency events and how many reminders that wrote."""
    written, _ = await _refresh(conn, plan_ids, as_of, late_fees, sweep=True)
    reminders = sum(n for kind, n in written.items() if kind.startswith("installment."))
    return _delinquency_events(written), reminders

"""Delinquency's statements: bringing plans to a date (the refresh, set-based, for one plan after
a payment and for thousands in a sweep batch), and the sweep's claims and late-fee reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from app.db import advisory_lock_sql
from app.engine.delinquency import DelinquencyState
from app.engine.status import DEFAULT_STATES, PlanStatus, values
from app.events.repository import insert_events
from app.models.plan import OPEN_PLANS
from app.products.repository import definition_sql
from app.sql import statement

_GRACE = definition_sql("v.definition", "late_fees", "grace_days")
_DEFAULT_AFTER = definition_sql("v.definition", "default_after_days")
_TOLERANCE = definition_sql("v.definition", "past_due_tolerance")
_LADDER = definition_sql("v.definition", "reminder_days", text=False)

# The events a refresh writes, in the order they happened: late fees, delinquency, reminders.
_EVENTS = insert_events(
    """
            SELECT merchant_id, plan_id, 0 AS part, ord, 'late_fee.assessed' AS type,
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
    """,
    order_by="part, plan_id, ord",
)

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
_REFRESH = f"""
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.customer_id, p.status AS old_status,
            p.delinquency_state AS old_state, p.days_past_due AS old_days, p.schedule_version,
            coalesce({_GRACE}::int, 0) AS grace,
            {_DEFAULT_AFTER}::int AS default_after,
            coalesce({_TOLERANCE}::bigint, 0) AS tolerance,
            p.product_id, p.product_version
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY($1::uuid[])
    ), ladders AS MATERIALIZED (
        SELECT v.product_id, v.version, ARRAY(
            SELECT o::int FROM jsonb_array_elements_text({_LADDER}) AS o
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
        {_EVENTS} RETURNING type
    )
    SELECT type, count(*), NULL AS status, NULL AS state, NULL::int AS days
    FROM written GROUP BY type
    UNION ALL
    SELECT NULL, NULL, n.status, n.state, n.days FROM next AS n WHERE NOT $7::boolean
    """  # noqa: S608 (constant SQL)


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


async def refresh(
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


# The open plans not yet brought to :as_of, through the index of the open plans' ids (its
# predicate, a constant, is in the text so that every plan of the statement can use the index).
# OPEN_PLANS is written from the engine's set (app.engine.status.OPEN), not passed as an array
# parameter like the other sets: PostgreSQL proves a partial index usable only from constants,
# and a generic plan (what a prepared statement may switch to after five runs) cannot see into
# `status = ANY($n)`. Measured with EXPLAIN ANALYZE on 300,000 plans, 30 % open: the generic
# plan of the array form walks the primary key and filters the closed plans out (4,948 rows
# read for a claim of 1,000, 6.8 ms), the text form keeps ix_plans_open_id (1,000 rows, 1.7 ms).
_TO_SWEEP = f"{OPEN_PLANS} AND (swept_through IS NULL OR swept_through < :as_of::date)"

# `after` walks the plans in id order, so a claim never rereads plans this run already swept.
_CLAIM = statement(
    f"""
    SELECT id FROM plans
    WHERE id > :after AND {_TO_SWEEP}
    ORDER BY id
    LIMIT :size
    FOR UPDATE SKIP LOCKED
    """  # noqa: S608 (constants)
)

# Installments past their grace with something overdue and a step not yet assessed (the steps
# assessed come as bits, step n as bit n - 1), with what their plan carries in late fees already
# (over all its installments: they hold the running totals). The policies come from _POLICIES,
# once per product version rather than once per row. The installments come from one scan of
# their plan_id index for the whole batch (see app.delinquency.service._REFRESH). Plans without
# late fees are filtered after the join: PostgreSQL guesses that jsonb test keeps one product
# version in 100, and that guess made it scan the batch's plans once per product version.
_SECOND_FEE = definition_sql("v.definition", "late_fees", "second_fee", text=False)
_LATE_FEES = definition_sql("v.definition", "late_fees", text=False)
_LATE_CANDIDATES = f"""
    WITH candidate_plans AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.customer_id, p.amount, p.schedule_version,
            p.product_id, p.product_version,
            coalesce({_GRACE}::int, 0) AS grace,
            CASE WHEN jsonb_typeof({_SECOND_FEE}) = 'object' THEN 2 ELSE 1 END AS steps,
            jsonb_typeof({_LATE_FEES}) = 'object' AS has_late_fees
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY($1::uuid[])
    ), batch_installments AS MATERIALIZED (
        SELECT id, plan_id, schedule_version, due_date, principal, interest, fee, late_fee,
            paid_principal, paid_interest, paid_fee,
            sum(late_fee) OVER (PARTITION BY plan_id) AS on_plan
        FROM installments WHERE plan_id = ANY($1::uuid[])
    )
    SELECT i.id, b.id AS plan_id, b.merchant_id, b.customer_id, b.amount AS plan_amount,
        i.due_date,
        i.principal + i.interest + i.fee - i.paid_principal - i.paid_interest - i.paid_fee
            AS overdue,
        i.late_fee AS on_installment, i.on_plan::bigint, b.product_id, b.product_version,
        f.done AS steps_done
    FROM candidate_plans AS b
    JOIN batch_installments AS i
      ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, coalesce(bit_or(1 << (f.step - 1)), 0) AS done
        FROM late_fees AS f WHERE f.installment_id = i.id
    ) AS f
    WHERE b.has_late_fees AND i.due_date + b.grace < $2::date
      AND i.principal + i.interest + i.fee > i.paid_principal + i.paid_interest + i.paid_fee
      AND f.n < b.steps
    ORDER BY b.id, i.due_date
    """  # noqa: S608 (constant SQL)

_POLICIES = """
    SELECT v.product_id, v.version, v.definition::text
    FROM product_versions AS v
    JOIN unnest($1::uuid[], $2::int[]) AS k(product_id, version)
      ON k.product_id = v.product_id AND k.version = v.version
    """

# A customer's late fees of the last 12 months, through their plans (the merchant_id,
# customer_id index) and the plans' installments: a few index probes per customer.
_ON_CUSTOMERS = """
    SELECT c.merchant_id, c.customer_id, t.total
    FROM unnest($1::uuid[], $2::text[]) AS c(merchant_id, customer_id)
    CROSS JOIN LATERAL (
        SELECT sum(f.amount)::bigint AS total
        FROM plans AS p
        JOIN installments AS i ON i.plan_id = p.id
        JOIN late_fees AS f ON f.installment_id = i.id
        WHERE p.merchant_id = c.merchant_id AND p.customer_id = c.customer_id
          AND f.assessed_on > $3::date
    ) AS t
    WHERE t.total IS NOT NULL
    """

# The advisory locks of these customers' late fees, taken in one order (of the lock's number) so
# that batches taking several never wait on each other in a cycle. Held to the end of the batch's
# transaction, they make the batches that assess fees for one customer (two of their plans in
# two batches at once) take turns, each reading the late fees of the one before: a cap per
# customer cannot be passed by two batches that each saw the total without the other's fees.
# Only sweep batches take these locks, so a checkout or a payment never waits on them.
_LOCK_CUSTOMERS = f"""
    SELECT count(*) FROM (
        SELECT DISTINCT key, hashtextextended(key, 0) AS lock
        FROM unnest($1::uuid[], $2::text[]) AS k(m, c)
        CROSS JOIN LATERAL (SELECT 'late-fees:' || m || ':' || c AS key) AS named
        ORDER BY lock
    ) AS k
    WHERE {advisory_lock_sql("k.key")}
    """  # noqa: S608 (constants)

# Each statement of a batch is planned for the batch's own arrays. A generic plan (what a
# prepared statement gets from its sixth run on) takes every array for 10 elements, and its nested
# loops over the batch's sets then grow with the square of the batch size. A batch's sorts (of
# its events, some 25,000 rows) fit in memory.
_BATCH_SETTINGS = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB'"

_LEFT = statement(f"SELECT count(*) FROM plans WHERE {_TO_SWEEP}")  # noqa: S608


async def claim(
    conn: asyncpg.Connection, as_of: date, after: uuid.UUID, size: int
) -> list[uuid.UUID]:
    """Lock up to `size` open plans not yet brought to `as_of`, after `after` in id order,
    skipping those another transaction holds."""
    values = {"as_of": as_of, "after": after, "size": size}
    return [row[0] for row in await conn.fetch(_CLAIM.text, *_CLAIM.args(values))]


async def left_to_sweep(conn: asyncpg.Connection, as_of: date) -> int:
    """How many open plans are not yet brought to `as_of`."""
    left: int = await conn.fetchval(_LEFT.text, *_LEFT.args({"as_of": as_of}))
    return left


async def plan_batch(conn: asyncpg.Connection) -> None:
    """Plan the batch's statements for its own arrays (see _BATCH_SETTINGS)."""
    await conn.execute(_BATCH_SETTINGS)


async def late_candidates(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date
) -> list[asyncpg.Record]:
    return await conn.fetch(_LATE_CANDIDATES, list(plan_ids), as_of)


async def definitions(
    conn: asyncpg.Connection, versions: Sequence[tuple[uuid.UUID, int]]
) -> list[asyncpg.Record]:
    """The stored documents (text) of these product versions."""
    products, numbers = [p for p, _ in versions], [v for _, v in versions]
    return await conn.fetch(_POLICIES, products, numbers)


async def late_fees_of_customers(
    conn: asyncpg.Connection, customers: Sequence[tuple[uuid.UUID, str]], since: date
) -> list[asyncpg.Record]:
    """Each customer's late fees assessed after `since`, once their lock is held (the batches
    charging one customer take turns)."""
    merchants, references = [m for m, _ in customers], [c for _, c in customers]
    await conn.execute(_LOCK_CUSTOMERS, merchants, references)
    return await conn.fetch(_ON_CUSTOMERS, merchants, references, since)

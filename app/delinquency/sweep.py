"""The sweep: moves every open plan to a business date D, in batches.

Per batch, in one transaction holding the batch's row locks (taken with SKIP LOCKED, so several
workers, and the batches one sweep runs at once, share the work and a plan a payment is holding
is simply left to the next pass): the late fees due by D with their events (batches charging one
customer take turns, for the cap per customer); then one statement that adds those fees to the
installments in the same row write as their statuses, and recomputes delinquency in the same row
write as the mark `swept_through = D`; then the reminder ladder. Every step is idempotent (late
fees and reminders have unique keys; status and delinquency are recomputed from the data), so a
crash between batches loses nothing and a second run for the same D finds nothing to do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings, usable_cpus
from app.db import Connection, advisory_lock_sql, connect
from app.delinquency.service import LateFeeSteps, refresh_swept
from app.engine.late_fees import FeeContext, LateFeePolicy, fee_for_step, steps_reached
from app.models.plan import OPEN_PLANS
from app.products.repository import definition_of, definition_sql
from app.sql import statement

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
_GRACE = definition_sql("v.definition", "late_fees", "grace_days")
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


COUNTS = ("batches", "plans", "late_fees", "late_fee_amount", "reminders", "delinquency_events")


@dataclass
class SweepReport:
    as_of: date
    batches: int = 0
    plans: int = 0
    late_fees: int = 0
    late_fee_amount: int = 0
    reminders: int = 0
    delinquency_events: int = 0
    left_behind: int = 0

    def add(self, batch: SweepReport) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(batch, name))

    def line(self) -> str:
        return (
            f"as of {self.as_of}: {self.plans} plans in {self.batches} batches,"
            f" {self.late_fees} late fees ({self.late_fee_amount} minor units),"
            f" {self.reminders} reminders, {self.delinquency_events} delinquency events"
            + (f", {self.left_behind} plans still locked: run again" if self.left_behind else "")
        )


def step_date(policy: LateFeePolicy, due_date: date, step: int) -> date:
    """The first day a step is reached: the day it is assessed for, whenever the sweep runs."""
    days = policy.grace_days + 1 + (policy.second_after_days or 0 if step == 2 else 0)
    return due_date + timedelta(days=days)


async def assess_late_fees(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date
) -> LateFeeSteps:
    """Every late-fee step reached by `as_of` and not yet assessed, with its amount; the status
    pass (`refresh_swept`) records them."""
    fees = LateFeeSteps()
    rows = await conn.fetch(_LATE_CANDIDATES, list(plan_ids), as_of)
    if not rows:
        return fees
    versions = sorted({(r["product_id"], r["product_version"]) for r in rows})
    products, numbers = [p for p, _ in versions], [v for _, v in versions]
    policies: dict[tuple[uuid.UUID, int], LateFeePolicy] = {}
    for product_id, version, raw in await conn.fetch(_POLICIES, products, numbers):
        policy = definition_of(product_id, version, raw).late_fee_policy()
        assert policy is not None  # only products with late fees have candidates
        policies[product_id, version] = policy
    on_customer: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    # Only a cap per customer needs their 12 months of late fees.
    if any(p.cap_per_customer_12_months is not None for p in policies.values()):
        customers = sorted({(r["merchant_id"], r["customer_id"]) for r in rows})
        merchants, references = [m for m, _ in customers], [c for _, c in customers]
        since = as_of - timedelta(days=365)
        await conn.execute(_LOCK_CUSTOMERS, merchants, references)
        for merchant_id, customer_id, total in await conn.fetch(
            _ON_CUSTOMERS, merchants, references, since
        ):
            on_customer[(merchant_id, customer_id)] = total
    installment_ids, steps, amounts, reached = (
        fees.installment_id.append,
        fees.step.append,
        fees.amount.append,
        fees.reached_on.append,
    )
    # The engine's answers for the inputs seen so far in this batch (a book repeats them).
    fee_of: dict[tuple[Any, ...], int] = {}
    day_of: dict[tuple[Any, ...], date] = {}
    plan, on_plan = None, 0
    # One row per installment, in plan and due-date order: the sweep's hottest Python.
    for (
        installment_id,
        plan_id,
        merchant_id,
        customer_id,
        plan_amount,
        due_date,
        overdue,
        on_installment,
        plan_total,
        product_id,
        product_version,
        steps_done,
    ) in rows:
        if plan_id != plan:
            plan, on_plan = plan_id, plan_total
        version = (product_id, product_version)
        policy = policies[version]
        customer = (merchant_id, customer_id)
        added = 0
        for step in steps_reached(policy, due_date, as_of):
            if steps_done >> (step - 1) & 1:
                continue
            so_far, by_customer = on_installment + added, on_customer[customer]
            key = (version, step, overdue, plan_amount, so_far, on_plan, by_customer)
            if (fee := fee_of.get(key)) is None:
                context = FeeContext(
                    overdue=overdue,
                    plan_amount=plan_amount,
                    on_installment=so_far,
                    on_plan=on_plan,
                    on_customer_12_months=by_customer,
                )
                fee = fee_of[key] = fee_for_step(policy, step, context)
            if (day := day_of.get(when := (version, step, due_date))) is None:
                day = day_of[when] = step_date(policy, due_date, step)
            installment_ids(installment_id)
            steps(step)
            amounts(fee)
            reached(day)
            added += fee
            on_plan += fee
            on_customer[customer] += fee
    return fees


async def sweep_batch(conn: Connection, plan_ids: Sequence[uuid.UUID], as_of: date) -> SweepReport:
    """Bring these (locked) plans to `as_of`, in the caller's transaction."""
    await conn.execute(_BATCH_SETTINGS)
    fees = await assess_late_fees(conn, plan_ids, as_of)
    delinquency_events, reminders = await refresh_swept(conn, plan_ids, as_of, fees)
    return SweepReport(
        as_of=as_of,
        batches=1,
        plans=len(plan_ids),
        late_fees=sum(1 for amount in fees.amount if amount),
        late_fee_amount=sum(fees.amount),
        reminders=reminders,
        delinquency_events=delinquency_events,
    )


def concurrency_for(settings: Settings, requested: int | None = None) -> int:
    """How many batches a sweep runs at once: `requested` (--concurrency), else
    BNPL_SWEEP_CONCURRENCY, else one per core this process may use (a batch's time is mostly
    PostgreSQL's, one backend on one core); never more than the connection pool holds, each
    batch holding a connection for its whole transaction."""
    wanted = requested or settings.sweep_concurrency or usable_cpus()
    return max(1, min(wanted, settings.db_pool_size + settings.db_max_overflow))


async def sweep(
    engine: AsyncEngine,
    as_of: date,
    *,
    batch_size: int = 1000,
    concurrency: int = 1,
    patience: float = 30.0,
    progress: Callable[[SweepReport], None] | None = None,
) -> SweepReport:
    """Sweep every open plan not yet brought to `as_of`, one committed batch at a time, with
    `concurrency` batches at once (each in its own transaction, on its own connection).

    Plans another transaction holds (a payment, another worker's batch) are skipped, then waited
    for: the sweep returns only when none is left behind, or after `patience` seconds of waiting.
    """
    total = SweepReport(as_of=as_of)
    waited = 0.0
    while True:
        # One pass over the plans in id order. The batches share `after`, moved on as soon as a
        # batch is claimed, so the next claim starts beyond it; two claims at once still take
        # disjoint plans (SKIP LOCKED).
        after = uuid.UUID(int=0)

        async def batches() -> None:
            nonlocal after
            while True:
                async with connect(engine) as conn:
                    claim = {"as_of": as_of, "after": after, "size": batch_size}
                    ids = [row[0] for row in await conn.fetch(_CLAIM.text, *_CLAIM.args(claim))]
                    if not ids:
                        return
                    after = max(after, ids[-1])
                    done = await sweep_batch(conn, ids, as_of)
                total.add(done)
                if progress is not None:
                    progress(total)

        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(batches())
        async with connect(engine, transaction=False) as conn:
            left = await conn.fetchval(_LEFT.text, *_LEFT.args({"as_of": as_of}))
        if not left or waited >= patience:
            total.left_behind = left
            return total
        # What is left was locked when we passed it: go round again once it is free.
        await asyncio.sleep(0.1)
        waited += 0.1

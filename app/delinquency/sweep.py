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
from app.db import Connection, connect
from app.delinquency import repository
from app.delinquency.repository import LateFeeSteps
from app.delinquency.service import refresh_swept
from app.engine.late_fees import FeeContext, LateFeeRules, fee_for_step, steps_reached
from app.products.repository import definition_of

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


def step_date(policy: LateFeeRules, due_date: date, step: int) -> date:
    """The first day a step is reached: the day it is assessed for, whenever the sweep runs."""
    days = policy.grace_days + 1 + (policy.second_after_days or 0 if step == 2 else 0)
    return due_date + timedelta(days=days)


async def assess_late_fees(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date
) -> LateFeeSteps:
    """Every late-fee step reached by `as_of` and not yet assessed, with its amount; the status
    pass (`refresh_swept`) records them."""
    fees = LateFeeSteps()
    rows = await repository.late_candidates(conn, plan_ids, as_of)
    if not rows:
        return fees
    versions = sorted({(r["product_id"], r["product_version"]) for r in rows})
    policies: dict[tuple[uuid.UUID, int], LateFeeRules] = {}
    for product_id, version, raw in await repository.definitions(conn, versions):
        policy = definition_of(product_id, version, raw).late_fee_policy()
        assert policy is not None  # only products with late fees have candidates
        policies[product_id, version] = policy
    on_customer: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    # Only a cap per customer needs their 12 months of late fees.
    if any(p.cap_per_customer_12_months is not None for p in policies.values()):
        customers = sorted({(r["merchant_id"], r["customer_id"]) for r in rows})
        since = as_of - timedelta(days=365)
        for merchant_id, customer_id, total in await repository.late_fees_of_customers(
            conn, customers, since
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
    await repository.plan_batch(conn)
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
                    ids = await repository.claim(conn, as_of, after, batch_size)
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
            left = await repository.left_to_sweep(conn, as_of)
        if not left or waited >= patience:
            total.left_behind = left
            return total
        # What is left was locked when we passed it: go round again once it is free.
        await asyncio.sleep(0.1)
        waited += 0.1

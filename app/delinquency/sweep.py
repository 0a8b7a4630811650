"""The sweep: moves every open plan to a business date D, in batches.

Per batch, in one transaction holding the batch's row locks (taken with SKIP LOCKED, so several
workers share the work and a plan a payment is holding is simply left to the next pass): late
fees due by D, installment statuses, the reminder ladder, delinquency, then the mark
`swept_through = D`. Every step is idempotent (late fees and reminders have unique keys; status
and delinquency are recomputed from the data), so a crash between batches loses nothing and a
second run for the same D finds nothing to do.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import BigInteger, Date, Uuid

from app.db import driver
from app.delinquency.service import refresh
from app.engine.late_fees import FeeContext, LateFeePolicy, fee_for_step, steps_reached
from app.models import uuid7

OPEN_STATUSES = ["pending", "active", "defaulted"]
_IDS = bindparam("ids", type_=ARRAY(Uuid))
_AS_OF = bindparam("as_of", type_=Date)

# `after` walks the plans in id order, so a claim never rereads plans this run already swept.
_CLAIM = text(
    """
    SELECT id FROM plans
    WHERE id > :after AND status = ANY(:statuses)
      AND (swept_through IS NULL OR swept_through < :as_of)
    ORDER BY id
    LIMIT :size
    FOR UPDATE SKIP LOCKED
    """
).bindparams(bindparam("statuses", type_=ARRAY(String)), _AS_OF, bindparam("after", type_=Uuid))

# Installments past their grace with something overdue and a step not yet assessed.
_LATE_CANDIDATES = text(
    """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.merchant_id, p.customer_id, p.amount, p.schedule_version,
            p.product_id, p.product_version, v.definition -> 'late_fees' AS policy,
            coalesce((v.definition -> 'late_fees' ->> 'grace_days')::int, 0) AS grace,
            CASE WHEN jsonb_typeof(v.definition -> 'late_fees' -> 'second_fee') = 'object'
                 THEN 2 ELSE 1 END AS steps
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY(:ids) AND jsonb_typeof(v.definition -> 'late_fees') = 'object'
    )
    SELECT c.* FROM (
        SELECT i.id, b.id AS plan_id, b.merchant_id, b.customer_id, b.amount AS plan_amount,
            i.due_date, b.steps,
            i.principal + i.interest + i.fee - i.paid_principal - i.paid_interest - i.paid_fee
                AS overdue,
            i.late_fee AS on_installment, b.policy, b.product_id, b.product_version,
            coalesce((SELECT array_agg(f.step) FROM late_fees AS f WHERE f.installment_id = i.id),
                     '{}') AS steps_done
        FROM batch AS b
        JOIN installments AS i ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
        WHERE i.due_date < :as_of - b.grace
          AND i.principal + i.interest + i.fee > i.paid_principal + i.paid_interest + i.paid_fee
    ) AS c
    WHERE cardinality(c.steps_done) < c.steps
    ORDER BY c.plan_id, c.due_date
    """
).bindparams(_IDS, _AS_OF)

_INSERT_LATE_FEES = text(
    """
    INSERT INTO late_fees
        (id, merchant_id, customer_id, plan_id, installment_id, step, amount, assessed_on)
    SELECT * FROM unnest(:id, :merchant_id, :customer_id, :plan_id, :installment_id, :step,
                         :amount, :assessed_on)
    ON CONFLICT DO NOTHING
    """
).bindparams(
    bindparam("id", type_=ARRAY(Uuid)),
    bindparam("merchant_id", type_=ARRAY(Uuid)),
    bindparam("customer_id", type_=ARRAY(String)),
    bindparam("plan_id", type_=ARRAY(Uuid)),
    bindparam("installment_id", type_=ARRAY(Uuid)),
    bindparam("step", type_=ARRAY(Integer)),
    bindparam("amount", type_=ARRAY(BigInteger)),
    bindparam("assessed_on", type_=ARRAY(Date)),
)

_INSERT_FEE_EVENTS = text(
    """
    INSERT INTO events (merchant_id, plan_id, type, effective_date, data)
    SELECT m, p, 'late_fee.assessed', d, x::jsonb
    FROM unnest(:merchant_id, :plan_id, :effective_date, :data) AS t(m, p, d, x)
    """
).bindparams(
    bindparam("merchant_id", type_=ARRAY(Uuid)),
    bindparam("plan_id", type_=ARRAY(Uuid)),
    bindparam("effective_date", type_=ARRAY(Date)),
    bindparam("data", type_=ARRAY(String)),
)

# What each plan carries in late fees already (the installments hold the running totals).
_ON_PLANS = text(
    "SELECT plan_id, sum(late_fee)::bigint FROM installments WHERE plan_id = ANY(:ids)"
    " GROUP BY plan_id"
).bindparams(_IDS)

_ON_CUSTOMERS = text(
    """
    SELECT f.merchant_id, f.customer_id, sum(f.amount)::bigint FROM late_fees AS f
    JOIN unnest(:merchants, :customers) AS c(merchant_id, customer_id)
      ON c.merchant_id = f.merchant_id AND c.customer_id = f.customer_id
    WHERE f.assessed_on > :since
    GROUP BY f.merchant_id, f.customer_id
    """
).bindparams(
    bindparam("merchants", type_=ARRAY(Uuid)),
    bindparam("customers", type_=ARRAY(String)),
    bindparam("since", type_=Date),
)

_ADD_LATE_FEES = text(
    """
    UPDATE installments AS i SET late_fee = i.late_fee + v.amount
    FROM unnest(:ids, :amounts) AS v(id, amount)
    WHERE i.id = v.id
    """
).bindparams(_IDS, bindparam("amounts", type_=ARRAY(BigInteger)))

_REMINDERS = text(
    """
    WITH batch AS MATERIALIZED (
        SELECT p.id, p.schedule_version, v.definition -> 'reminder_days' AS ladder
        FROM plans AS p
        JOIN product_versions AS v ON v.product_id = p.product_id AND v.version = p.product_version
        WHERE p.id = ANY(:ids)
    ), ladder AS (
        SELECT i.id AS installment_id, i.merchant_id, i.plan_id, i.sequence, i.due_date,
            i.amount + i.late_fee - i.amount_paid AS owed,
            (SELECT max(o::int) FROM jsonb_array_elements_text(b.ladder) AS o
              WHERE i.due_date + o::int <= :as_of) AS rung
        FROM batch AS b
        JOIN installments AS i ON i.plan_id = b.id AND i.schedule_version = b.schedule_version
        WHERE i.amount + i.late_fee - i.amount_paid > 0
    ), sent AS (
        INSERT INTO reminders (installment_id, offset_days, merchant_id, plan_id, sent_on)
        SELECT installment_id, rung, merchant_id, plan_id, :as_of FROM ladder
        WHERE rung IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING installment_id, offset_days
    )
    INSERT INTO events (merchant_id, plan_id, type, effective_date, data)
    SELECT l.merchant_id, l.plan_id,
        CASE WHEN s.offset_days < 0 THEN 'installment.upcoming'
             WHEN s.offset_days = 0 THEN 'installment.due'
             ELSE 'installment.overdue' END,
        :as_of,
        jsonb_build_object('installment_id', l.installment_id, 'sequence', l.sequence,
                           'due_date', l.due_date, 'amount_due', l.owed,
                           'days_from_due', s.offset_days)
    FROM sent AS s JOIN ladder AS l ON l.installment_id = s.installment_id
    ORDER BY l.plan_id, l.sequence
    """
).bindparams(_IDS, _AS_OF)

_LEFT = text(
    """
    SELECT count(*) FROM plans
    WHERE status = ANY(:statuses) AND (swept_through IS NULL OR swept_through < :as_of)
    """
).bindparams(bindparam("statuses", type_=ARRAY(String)), _AS_OF)

_MARK = text("UPDATE plans SET swept_through = :as_of WHERE id = ANY(:ids)").bindparams(
    _IDS, _AS_OF
)


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

    def line(self) -> str:
        return (
            f"as of {self.as_of}: {self.plans} plans in {self.batches} batches,"
            f" {self.late_fees} late fees ({self.late_fee_amount} minor units),"
            f" {self.reminders} reminders, {self.delinquency_events} delinquency events"
            + (f", {self.left_behind} plans still locked: run again" if self.left_behind else "")
        )


def policy_from_product(raw: dict[str, Any]) -> LateFeePolicy:
    """The engine's policy from a product's stored `late_fees` document."""

    def percent(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    first, second = raw["first_fee"], raw.get("second_fee") or {}
    cap = raw.get("cap_per_plan") or {}
    return LateFeePolicy(
        grace_days=raw.get("grace_days", 0),
        first_amount=first.get("amount"),
        first_percent=percent(first.get("percent")),
        second_after_days=second.get("after_days"),
        second_amount=second.get("amount"),
        second_percent=percent(second.get("percent")),
        cap_per_installment=raw.get("cap_per_installment"),
        cap_per_plan_percent=percent(cap.get("percent")),
        cap_per_plan_amount=cap.get("amount"),
        cap_per_customer_12_months=raw.get("cap_per_customer_12_months"),
    )


def step_date(policy: LateFeePolicy, due_date: date, step: int) -> date:
    """The first day a step is reached: the day it is assessed for, whenever the sweep runs."""
    days = policy.grace_days + 1 + (policy.second_after_days or 0 if step == 2 else 0)
    return due_date + timedelta(days=days)


async def assess_late_fees(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID], as_of: date
) -> tuple[int, dict[uuid.UUID, int]]:
    """Assess every late-fee step reached by `as_of` and not yet assessed, with its event.

    Returns how many fees were charged and the amount per installment.
    """
    rows = (await session.execute(_LATE_CANDIDATES, {"ids": list(plan_ids), "as_of": as_of})).all()
    if not rows:
        return 0, {}
    plans = list({r.plan_id for r in rows})
    on_plan: dict[uuid.UUID, int] = defaultdict(int)
    on_plan.update({r[0]: r[1] for r in (await session.execute(_ON_PLANS, {"ids": plans})).all()})
    customers = sorted({(r.merchant_id, r.customer_id) for r in rows})
    on_customer: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for merchant_id, customer_id, total in await session.execute(
        _ON_CUSTOMERS,
        {
            "merchants": [m for m, _ in customers],
            "customers": [c for _, c in customers],
            "since": as_of - timedelta(days=365),
        },
    ):
        on_customer[(merchant_id, customer_id)] = total
    new_fees: dict[str, list[Any]] = defaultdict(list)
    new_events: dict[str, list[Any]] = defaultdict(list)
    added: dict[uuid.UUID, int] = defaultdict(int)
    policies: dict[tuple[uuid.UUID, int], LateFeePolicy] = {}
    for row in rows:
        version = (row.product_id, row.product_version)
        if (policy := policies.get(version)) is None:
            policy = policies[version] = policy_from_product(row.policy)
        customer = (row.merchant_id, row.customer_id)
        for step in steps_reached(policy, row.due_date, as_of):
            if step in row.steps_done:
                continue
            fee = fee_for_step(
                policy,
                step,
                FeeContext(
                    overdue=row.overdue,
                    plan_amount=row.plan_amount,
                    on_installment=row.on_installment + added[row.id],
                    on_plan=on_plan[row.plan_id],
                    on_customer_12_months=on_customer[customer],
                ),
            )
            reached = step_date(policy, row.due_date, step)
            for column, value in (
                ("id", uuid7()),
                ("merchant_id", row.merchant_id),
                ("customer_id", row.customer_id),
                ("plan_id", row.plan_id),
                ("installment_id", row.id),
                ("step", step),
                ("amount", fee),
                ("assessed_on", reached),
            ):
                new_fees[column].append(value)
            added[row.id] += fee
            on_plan[row.plan_id] += fee
            on_customer[customer] += fee
            if fee:
                data = {"installment_id": str(row.id), "step": step, "amount": fee}
                new_events["merchant_id"].append(row.merchant_id)
                new_events["plan_id"].append(row.plan_id)
                new_events["effective_date"].append(reached)
                new_events["data"].append(json.dumps(data))
    if not new_fees:
        return 0, {}
    # Steps whose caps left nothing are still recorded (amount 0), so they are never retried.
    await session.execute(_INSERT_LATE_FEES, new_fees)
    if new_events:
        await session.execute(_INSERT_FEE_EVENTS, new_events)
    charged = {k: v for k, v in added.items() if v}
    if charged:
        await session.execute(
            _ADD_LATE_FEES, {"ids": list(charged), "amounts": list(charged.values())}
        )
    return sum(1 for amount in new_fees["amount"] if amount), charged


async def sweep_batch(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID], as_of: date
) -> SweepReport:
    """Bring these (locked) plans to `as_of`."""
    report = SweepReport(as_of=as_of, batches=1, plans=len(plan_ids))
    report.late_fees, charged = await assess_late_fees(session, plan_ids, as_of)
    report.late_fee_amount = sum(charged.values())
    params = {"ids": list(plan_ids), "as_of": as_of}
    # Statuses before the ladder, which reads what is owed.
    report.delinquency_events = await refresh(await driver(session), plan_ids, as_of)
    reminders = await session.execute(_REMINDERS, params)
    report.reminders = reminders.rowcount  # type: ignore[attr-defined]
    await session.execute(_MARK, params)
    return report


async def sweep(
    factory: async_sessionmaker[AsyncSession],
    as_of: date,
    *,
    batch_size: int = 1000,
    patience: float = 30.0,
    progress: Callable[[SweepReport], None] | None = None,
) -> SweepReport:
    """Sweep every open plan not yet brought to `as_of`, one committed batch at a time.

    Plans another transaction holds (a payment, another worker's batch) are skipped, then waited
    for: the sweep returns only when none is left behind, or after `patience` seconds of waiting.
    """
    total = SweepReport(as_of=as_of)
    waited, after = 0.0, uuid.UUID(int=0)
    while True:
        async with factory() as session, session.begin():
            params = {"statuses": OPEN_STATUSES, "as_of": as_of, "size": batch_size}
            ids = list((await session.execute(_CLAIM, {**params, "after": after})).scalars())
            if not ids:
                left = (await session.execute(_LEFT, params)).scalar_one()
                if not left or waited >= patience:
                    total.left_behind = left
                    return total
            else:
                done = await sweep_batch(session, ids, as_of)
        if not ids:
            # What is left was locked when we passed it: go round again once it is free.
            after = uuid.UUID(int=0)
            await asyncio.sleep(0.1)
            waited += 0.1
            continue
        after = ids[-1]
        for name in ("batches", "plans", "late_fees", "late_fee_amount", "reminders"):
            setattr(total, name, getattr(total, name) + getattr(done, name))
        total.delinquency_events += done.delinquency_events
        if progress is not None:
            progress(total)

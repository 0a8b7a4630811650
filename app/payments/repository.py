"""Payments' statements: money moving is the busiest path of the service, so a payment is a few
plain statements, and its writes are one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from app.errors import not_found
from app.events.repository import NewEvent, insert_listed_events, listed
from app.sql import statement


@dataclass(slots=True)
class LockedPlan:
    """What a payment needs of its plan, read under the plan's row lock."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    currency: str
    credit_balance: int
    schedule_version: int
    deposit_amount: int
    requires_agreement: bool
    delinquency_state: str
    days_past_due: int


@dataclass(slots=True)
class InstallmentBalance:
    """An installment of the plan's current schedule: what it is due and what was paid on it."""

    id: uuid.UUID
    sequence: int
    due_date: date
    amount: int
    principal: int
    interest: int
    fee: int
    late_fee: int
    paid_principal: int
    paid_interest: int
    paid_fee: int
    paid_late_fee: int
    status: str

    @property
    def paid(self) -> int:
        return self.paid_principal + self.paid_interest + self.paid_fee + self.paid_late_fee

    @property
    def owed(self) -> int:
        return self.amount + self.late_fee - self.paid


@dataclass(frozen=True, slots=True)
class StoredPayment:
    id: uuid.UUID
    plan_id: uuid.UUID
    payment_id: str
    status: str
    amount: int
    currency: str
    paid_at: datetime
    failure_code: str | None
    source: str
    reversed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Movement:
    """One allocation row: money onto (or, negative, off) an installment's component, or the
    plan's credit when `installment_id` is None; under `payment`, the payment whose money it
    is, when not the statement's own (credit held, spent on what is owed)."""

    installment_id: uuid.UUID | None
    component: str
    amount: int
    payment: uuid.UUID | None = None


# The columns of LockedPlan, in its order, for every statement that locks a plan for money.
LOCKED_PLAN_COLUMNS = """id, merchant_id, status, currency, credit_balance, schedule_version,
    deposit_amount, requires_agreement, delinquency_state, days_past_due"""
_LOCK_PLAN = "".join(
    (
        "SELECT ",
        LOCKED_PLAN_COLUMNS,
        " FROM plans WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
    )
)
_PLAN_EXISTS = "SELECT EXISTS (SELECT FROM plans WHERE id = $1 AND merchant_id = $2)"
_LINES = """
    SELECT id, sequence, due_date, amount, principal, interest, fee, late_fee, paid_principal,
        paid_interest, paid_fee, paid_late_fee, status,
        EXISTS (SELECT FROM acceptances AS a WHERE a.merchant_id = $1 AND a.plan_id = $2)
    FROM installments WHERE merchant_id = $1 AND plan_id = $2 AND schedule_version = $3
    ORDER BY sequence
"""
# The columns of StoredPayment, in its order, for every statement that returns payments.
PAYMENT_COLUMNS = """id, plan_id, payment_id, status, amount, currency, paid_at, failure_code,
    source, reversed_at, created_at"""
_INSERT_PAYMENT = "".join(
    (
        """
    INSERT INTO payments
        (id, merchant_id, plan_id, payment_id, status, amount, currency, paid_at, failure_code,
         source)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (merchant_id, payment_id) DO NOTHING
    RETURNING """,
        PAYMENT_COLUMNS,
    )
)
_FIND_PAYMENT = "".join(
    (
        "SELECT ",
        PAYMENT_COLUMNS,
        " FROM payments WHERE merchant_id = $1 AND payment_id = $2",
    )
)
_PAGE = "".join(
    (
        "SELECT ",
        PAYMENT_COLUMNS,
        """ FROM payments
    WHERE merchant_id = $1 AND plan_id = $2 AND ($3::uuid IS NULL OR id > $3)
    ORDER BY id LIMIT $4""",
    )
)
_ALLOCATIONS = """
    SELECT a.payment_id, a.installment_id, i.sequence, a.component, a.amount
    FROM allocations AS a LEFT JOIN installments AS i ON i.id = a.installment_id
    WHERE a.merchant_id = $1 AND a.payment_id = ANY($2::uuid[])
    ORDER BY a.id
"""
_LOCK_PAYMENT = _FIND_PAYMENT + " FOR UPDATE"
_ALLOCATED = """
    SELECT installment_id, component, sum(amount)::bigint AS amount FROM allocations
    WHERE merchant_id = $1 AND payment_id = $2
    GROUP BY installment_id, component
"""
# What moving money writes besides its payment row: the installments' paid amounts and the
# statuses those make (so the refresh that follows has nothing to rewrite there), the
# allocation rows (each under the statement's payment unless it names another), the plan's
# credit and the events, all only if `payment` (the CTE each statement starts with) returned its
# row. The parameters are `_movement_values`'.
_MOVE = f"""
), paid AS (
    UPDATE installments AS i SET
        paid_principal = i.paid_principal + d.principal,
        paid_interest = i.paid_interest + d.interest,
        paid_fee = i.paid_fee + d.fee,
        paid_late_fee = i.paid_late_fee + d.late_fee,
        status = d.status,
        paid_at = CASE WHEN d.status = 'paid' THEN coalesce(i.paid_at, now()) END
    FROM unnest(:line_ids::uuid[], :paid_principal::bigint[], :paid_interest::bigint[],
                :paid_fee::bigint[], :paid_late_fee::bigint[], :line_statuses::text[])
        AS d(id, principal, interest, fee, late_fee, status)
    WHERE i.id = d.id AND i.plan_id = :plan_id AND i.merchant_id = :merchant_id
      AND EXISTS (SELECT FROM payment)
), allocated AS (
    INSERT INTO allocations (merchant_id, plan_id, payment_id, installment_id, component, amount)
    SELECT :merchant_id, :plan_id, coalesce(a.payment_id, p.id), a.installment_id, a.component,
        a.amount
    FROM payment AS p,
        unnest(:to_installments::uuid[], :components::text[], :amounts::bigint[],
               :from_payments::uuid[]) WITH ORDINALITY
            AS a(installment_id, component, amount, payment_id, n)
    ORDER BY a.n
), credited AS (
    UPDATE plans SET credit_balance = credit_balance + :credit::bigint
    WHERE id = :plan_id AND merchant_id = :merchant_id AND :credit::bigint <> 0
      AND EXISTS (SELECT FROM payment)
), recorded AS (
    {insert_listed_events(":merchant_id", ":plan_id", "WHERE EXISTS (SELECT FROM payment)")}
)
SELECT {PAYMENT_COLUMNS} FROM payment
"""  # noqa: S608 (constant SQL)
# A new payment, unless the merchant has one with this payment_id already.
_PAY = statement(
    f"""
WITH payment AS (
    INSERT INTO payments
        (id, merchant_id, plan_id, payment_id, status, amount, currency, paid_at, source)
    VALUES (:id, :merchant_id, :plan_id, :payment_id, 'succeeded', :amount, :currency, :paid_at,
        :source)
    ON CONFLICT (merchant_id, payment_id) DO NOTHING
    RETURNING *
{_MOVE}"""  # noqa: S608 (constant SQL)
)
_REVERSE = statement(
    f"""
WITH payment AS (
    UPDATE payments SET status = 'reversed', reversed_at = :reversed_at,
        reversal_reason = :reason
    WHERE merchant_id = :merchant_id AND id = :id
    RETURNING *
{_MOVE}"""  # noqa: S608 (constant SQL)
)
_SET_STATUS = statement(
    f"""
WITH changed AS (
    UPDATE plans SET status = :status, updated_at = now()
    WHERE id = :plan_id AND merchant_id = :merchant_id
)
{insert_listed_events(":merchant_id", ":plan_id")}
"""  # noqa: S608 (constant SQL)
)
# The credit each payment of the plan still holds ($3: but this one), oldest payment first.
_CREDIT_HELD = """
SELECT p.id, sum(a.amount)::bigint FROM payments AS p
JOIN allocations AS a ON a.merchant_id = p.merchant_id AND a.payment_id = p.id
WHERE p.merchant_id = $1 AND p.plan_id = $2 AND p.id <> $3 AND a.installment_id IS NULL
GROUP BY p.id HAVING sum(a.amount) > 0
ORDER BY p.id
"""


async def lock_plan(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID
) -> LockedPlan:
    row = await conn.fetchrow(_LOCK_PLAN, plan_id, merchant_id)
    if row is None:
        raise not_found("plan")
    return LockedPlan(*row)


async def check_plan(conn: asyncpg.Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> None:
    """A 404 problem unless the merchant has this plan."""
    if not await conn.fetchval(_PLAN_EXISTS, plan_id, merchant_id):
        raise not_found("plan")


async def lines(
    conn: asyncpg.Connection, plan: LockedPlan
) -> tuple[list[InstallmentBalance], bool]:
    """The plan's installments, and whether its agreement is accepted (read with them, under
    the plan's lock, to save a round trip)."""
    rows = await conn.fetch(_LINES, plan.merchant_id, plan.id, plan.schedule_version)
    return [InstallmentBalance(*row[:-1]) for row in rows], bool(rows and rows[0][-1])


async def insert_payment(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    payment_id: str,
    status: str,
    amount: int,
    currency: str,
    at: datetime,
    source: str,
    failure_code: str | None,
    new_id: uuid.UUID,
) -> StoredPayment | None:
    """The new payment, or None when the merchant already has one with this `payment_id`."""
    row = await conn.fetchrow(
        _INSERT_PAYMENT,
        new_id,
        plan.merchant_id,
        plan.id,
        payment_id,
        status,
        amount,
        currency,
        at,
        failure_code,
        source,
    )
    return None if row is None else StoredPayment(*row)


async def find_payment(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, payment_id: str, *, lock: bool = False
) -> StoredPayment | None:
    row = await conn.fetchrow(_LOCK_PAYMENT if lock else _FIND_PAYMENT, merchant_id, payment_id)
    return None if row is None else StoredPayment(*row)


async def allocated(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, payment: uuid.UUID
) -> list[Movement]:
    """What a payment has moved so far, net per installment and component."""
    rows = await conn.fetch(_ALLOCATED, merchant_id, payment)
    return [Movement(*row) for row in rows]


_COMPONENTS = ("principal", "interest", "fee", "late_fee")


def _movement_values(
    plan: LockedPlan,
    movements: Sequence[Movement],
    statuses: Mapping[uuid.UUID, str],
    events: Sequence[NewEvent],
) -> dict[str, Any]:
    deltas: dict[uuid.UUID, dict[str, int]] = {}
    credit = 0
    for m in movements:
        if m.installment_id is None:
            credit += m.amount
        else:
            per = deltas.setdefault(m.installment_id, dict.fromkeys(_COMPONENTS, 0))
            per[m.component] += m.amount
    return {
        "merchant_id": plan.merchant_id,
        "plan_id": plan.id,
        "line_ids": list(deltas),
        **{f"paid_{c}": [d[c] for d in deltas.values()] for c in _COMPONENTS},
        "line_statuses": [statuses[i] for i in deltas],
        "to_installments": [m.installment_id for m in movements],
        "components": [m.component for m in movements],
        "amounts": [m.amount for m in movements],
        "from_payments": [m.payment for m in movements],
        "credit": credit,
        **listed(events),
    }


async def pay(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    new_id: uuid.UUID,
    payment_id: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    source: str,
    movements: Sequence[Movement],
    statuses: Mapping[uuid.UUID, str],
    events: Sequence[NewEvent],
) -> StoredPayment | None:
    """Record a succeeded payment and where its money went (`movements`, in this order), the
    `statuses` of the installments it reached, and `events`, in one statement; None, and nothing
    written, if the merchant already has a payment with this `payment_id`."""
    paid = {
        "id": new_id,
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "paid_at": paid_at,
        "source": source,
    }
    values = {**_movement_values(plan, movements, statuses, events), **paid}
    row = await conn.fetchrow(_PAY.text, *_PAY.args(values))
    return None if row is None else StoredPayment(*row)


async def reverse(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    payment: uuid.UUID,
    at: datetime,
    reason: str | None,
    movements: Sequence[Movement],
    statuses: Mapping[uuid.UUID, str],
    events: Sequence[NewEvent],
) -> None:
    """Mark the payment reversed and record `movements` (negative) taking its money back, with
    the `statuses` of the installments it reopened."""
    reversed_ = {"id": payment, "reversed_at": at, "reason": reason}
    values = {**_movement_values(plan, movements, statuses, events), **reversed_}
    await conn.execute(_REVERSE.text, *_REVERSE.args(values))


async def set_status(
    conn: asyncpg.Connection, plan: LockedPlan, status: str, events: Sequence[NewEvent]
) -> None:
    values = {"merchant_id": plan.merchant_id, "plan_id": plan.id, "status": status}
    await conn.execute(_SET_STATUS.text, *_SET_STATUS.args({**values, **listed(events)}))


async def credit_held(
    conn: asyncpg.Connection, plan: LockedPlan, but: uuid.UUID
) -> list[tuple[uuid.UUID, int]]:
    """The payments of the plan (other than `but`) whose money is still held as credit, and how
    much of it, oldest payment first."""
    rows = await conn.fetch(_CREDIT_HELD, plan.merchant_id, plan.id, but)
    return [(row[0], row[1]) for row in rows]


async def page(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
) -> list[StoredPayment]:
    """A plan's payments in id order, after the cursor."""
    rows = await conn.fetch(_PAGE, merchant_id, plan_id, after, limit)
    return [StoredPayment(*row) for row in rows]


async def allocations(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, payments: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, Movement, int | None]]:
    """Every allocation row of these payments, in the order written, with its installment's
    sequence."""
    rows = await conn.fetch(_ALLOCATIONS, merchant_id, list(payments))
    return [(r[0], Movement(r[1], r[3], r[4]), r[2]) for r in rows]

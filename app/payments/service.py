"""Money in: a payment is allocated to what is owed, a failure is recorded, a reversal re-opens
exactly what its payment had paid. Each runs under the plan's row lock, in the caller's
transaction, and writes its events there. The statements are in `repository`."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from app import clock
from app.engine.allocation import OpenLine, allocate, allocate_held
from app.engine.status import PlanStatus
from app.errors import Problem, field_problem, validation_problem
from app.events import repository as events
from app.events.repository import NewEvent
from app.models import uuid7
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.payments import repository
from app.payments.repository import InstallmentBalance, LockedPlan, Movement, StoredPayment
from app.payments.schemas import AllocationOut, PaymentList, PaymentOut, PaymentStatus
from app.servicing import service as servicing

CREDIT = "credit"


def _open_line(row: InstallmentBalance) -> OpenLine:
    return OpenLine(
        ref=row.id,
        sequence=row.sequence,
        late_fee=row.late_fee - row.paid_late_fee,
        fee=row.fee - row.paid_fee,
        interest=row.interest - row.paid_interest,
        principal=row.principal - row.paid_principal,
    )


def _check_currency(plan: LockedPlan, currency: str) -> None:
    if currency != plan.currency:
        detail = f"This plan is in {plan.currency}; a payment in {currency} cannot be applied"
        raise validation_problem([field_problem("currency", detail, "currency_mismatch")])


def _reused(payment_id: str) -> Problem:
    return Problem(
        409,
        "payment-id-reused",
        "Payment id already used",
        f"Payment {payment_id!r} was already recorded with other details",
    )


def _apply_to_lines(
    lines: Sequence[InstallmentBalance], movements: Sequence[Movement]
) -> dict[uuid.UUID, str]:
    """Move the money on our copy of the lines; the statuses of those it reached, as of today."""
    by_id = {line.id: line for line in lines}
    for m in movements:
        if m.installment_id is not None:
            line = by_id[m.installment_id]
            field = f"paid_{m.component}"
            setattr(line, field, getattr(line, field) + m.amount)
    reached = {m.installment_id for m in movements}
    today = clock.today()
    for line in lines:
        if line.id in reached:
            line.status = servicing.line_status(line, today)
    return {line.id: line.status for line in lines if line.id in reached}


async def _already_paid(
    conn: asyncpg.Connection, plan: LockedPlan, payment_id: str, amount: int, currency: str
) -> PaymentOut | None:
    """The answer for a payment_id the merchant used before: the same payment again is answered
    as it was; anything else under that id is a 409. None if the id is new."""
    existing = await repository.find_payment(conn, plan.merchant_id, payment_id)
    if existing is None:
        return None
    same = (existing.plan_id, existing.amount, existing.currency) == (plan.id, amount, currency)
    if same and existing.status != PaymentStatus.FAILED:
        return (await _wire(conn, plan.merchant_id, [existing]))[0]
    raise _reused(payment_id)


async def lock(conn: asyncpg.Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> LockedPlan:
    """The plan a payment is for, locked until the transaction ends (a 404 when not the
    merchant's)."""
    return await repository.lock_plan(conn, merchant_id, plan_id)


async def apply_payment(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    payment_id: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    source: str,
) -> PaymentOut:
    if currency != plan.currency or plan.status == PlanStatus.CANCELLED:
        # Refused, unless it is a payment recorded before (the checks then ran the first time).
        if (existing := await _already_paid(conn, plan, payment_id, amount, currency)) is not None:
            return existing
        _check_currency(plan, currency)
        raise Problem(409, "plan-closed", "Plan closed", "A cancelled plan takes no payments")
    lines, accepted = await repository.lines(conn, plan)
    result = allocate([_open_line(line) for line in lines], amount)
    movements = [
        Movement(portion.ref, portion.component.value, portion.amount)
        for portion in result.portions
    ]
    if result.credit:
        movements.append(Movement(None, CREDIT, result.credit))
    applied = {
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "applied": result.applied,
        "credit": result.credit,
    }
    events: list[NewEvent] = [("payment.applied", applied)]
    if result.credit:
        balance = plan.credit_balance + result.credit
        credit = {"payment_id": payment_id, "credit": result.credit, "balance": balance}
        events.append(("plan.credit_balance", credit))
    statuses = _apply_to_lines(lines, movements)
    payment = await repository.pay(
        conn,
        plan,
        uuid7(),
        payment_id,
        amount,
        currency,
        paid_at,
        source,
        movements,
        statuses,
        events,
    )
    if payment is None:
        existing = await _already_paid(conn, plan, payment_id, amount, currency)
        assert existing is not None  # the insert met it
        return existing
    await servicing.settle(conn, plan, lines, accepted)
    sequences = {line.id: line.sequence for line in lines}
    return _to_wire(
        payment,
        [
            _allocation_out(m, sequences[m.installment_id] if m.installment_id else None)
            for m in movements
        ],
    )


async def record_failure(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    payment_id: str,
    amount: int,
    currency: str,
    failed_at: datetime,
    failure_code: str | None,
    source: str,
) -> None:
    """A failed payment changes no balance; it is kept, and existing as an event."""
    payment = await repository.insert_payment(
        conn,
        plan,
        payment_id,
        PaymentStatus.FAILED,
        amount,
        currency,
        failed_at,
        source,
        failure_code,
        uuid7(),
    )
    if payment is None:
        existing = await repository.find_payment(conn, plan.merchant_id, payment_id)
        assert existing is not None  # the insert met it
        if existing.status == PaymentStatus.FAILED and existing.plan_id == plan.id:
            return
        raise _reused(payment_id)
    _check_currency(plan, currency)
    data = {"payment_id": payment_id, "amount": amount, "failure_code": failure_code}
    await events.record(conn, plan.merchant_id, plan.id, [("payment.failed", data)])


async def reverse_payment(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    payment_id: str,
    amount: int,
    reason: str | None,
) -> None:
    """Re-open exactly what the payment had paid (and take back its credit)."""
    payment = await repository.find_payment(conn, plan.merchant_id, payment_id, lock=True)
    if payment is None or payment.plan_id != plan.id:
        detail = f"No payment {payment_id!r} on this plan to reverse (yet)"
        raise validation_problem([field_problem("data.payment_id", detail, "unknown_payment")])
    if payment.status == PaymentStatus.REVERSED:
        return
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Problem(409, "not-reversible", "Not reversible", "Only a succeeded payment reverses")
    if amount != payment.amount:
        detail = f"A reversal takes back the whole payment ({payment.amount}), not part of it"
        raise validation_problem([field_problem("data.amount", detail, "partial_reversal")])
    movements = [
        Movement(m.installment_id, m.component, -m.amount)
        for m in await repository.allocated(conn, plan.merchant_id, payment.id)
        if m.amount > 0
    ]
    lines, accepted = await repository.lines(conn, plan)
    reversed_ = {"payment_id": payment_id, "amount": payment.amount, "reason": reason}
    events: list[NewEvent] = [("payment.reversed", reversed_)]
    statuses = _apply_to_lines(lines, movements)
    credit = plan.credit_balance + sum(m.amount for m in movements if m.installment_id is None)
    if credit > 0 and any(line.owed > 0 for line in lines):
        spent = await _spend_credit(conn, plan, payment.id, lines)
        if spent:
            used = -sum(m.amount for m in spent if m.installment_id is None)
            statuses |= _apply_to_lines(lines, spent)
            movements += spent
            events.append(("plan.credit_applied", {"amount": used, "balance": credit - used}))
    await repository.reverse(
        conn, plan, payment.id, clock.now(), reason, movements, statuses, events
    )
    await servicing.settle(conn, plan, lines, accepted)


async def _spend_credit(
    conn: asyncpg.Connection,
    plan: LockedPlan,
    reversed_: uuid.UUID,
    lines: Sequence[InstallmentBalance],
) -> list[Movement]:
    """The credit the plan holds paying what is owed again (oldest first), before anything can
    be counted late: each part under the payment whose money it is (off its credit, onto the
    lines), so that reversing that payment later takes back exactly what its money paid."""
    held = await repository.credit_held(conn, plan, reversed_)
    spent: list[Movement] = []
    for source, portions in allocate_held([_open_line(line) for line in lines], held):
        total = sum(portion.amount for portion in portions)
        spent.append(Movement(None, CREDIT, -total, source))
        spent += (Movement(p.ref, p.component.value, p.amount, source) for p in portions)
    return spent


def _allocation_out(m: Movement, sequence: int | None) -> AllocationOut:
    return AllocationOut(
        installment_id=m.installment_id, sequence=sequence, component=m.component, amount=m.amount
    )


def _to_wire(p: StoredPayment, allocations: list[AllocationOut]) -> PaymentOut:
    return PaymentOut(
        id=p.id,
        payment_id=p.payment_id,
        plan_id=p.plan_id,
        status=PaymentStatus(p.status),
        amount=p.amount,
        currency=p.currency,
        paid_at=p.paid_at,
        failure_code=p.failure_code,
        reversed_at=p.reversed_at,
        source=p.source,
        credit=sum(a.amount for a in allocations if a.component == CREDIT),
        allocations=allocations,
        created_at=p.created_at,
    )


async def _wire(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, payments: Sequence[StoredPayment]
) -> list[PaymentOut]:
    if not payments:
        return []
    by_payment: dict[uuid.UUID, list[AllocationOut]] = defaultdict(list)
    for payment, m, sequence in await repository.allocations(
        conn, merchant_id, [p.id for p in payments]
    ):
        by_payment[payment].append(_allocation_out(m, sequence))
    return [_to_wire(p, by_payment[p.id]) for p in payments]


async def list_payments(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID, page: PageParams
) -> PaymentList:
    await repository.check_plan(conn, merchant_id, plan_id)
    rows = await repository.page(
        conn, merchant_id, plan_id, uuid_cursor(page.after), page.limit + 1
    )
    page_rows = rows[: page.limit]
    return PaymentList(
        data=await _wire(conn, merchant_id, page_rows),
        next_cursor=next_cursor(rows, page.limit, page_rows[-1].id if page_rows else None),
    )

"""Money in: a payment is allocated to what is owed, a failure is recorded, a reversal re-opens
exactly what its payment had paid. Each runs under the plan's row lock, in the caller's
transaction, and writes its events there."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.delinquency.service import refresh
from app.engine.allocation import Component, OpenLine, allocate
from app.errors import Problem, field_problem, validation_problem
from app.events import service as events
from app.models import Allocation, Installment, Payment, Plan, uuid7
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.payments.schemas import AllocationOut, PaymentList, PaymentOut, PaymentStatus
from app.plans.schemas import PlanStatus
from app.plans.service import activate_if_ready, get_plan_row

CREDIT = "credit"
_PAID_FIELD = {
    Component.LATE_FEE: "paid_late_fee",
    Component.FEE: "paid_fee",
    Component.INTEREST: "paid_interest",
    Component.PRINCIPAL: "paid_principal",
}


def _owed(row: Installment) -> int:
    due = row.principal + row.interest + row.fee + row.late_fee
    return due - (row.paid_principal + row.paid_interest + row.paid_fee + row.paid_late_fee)


def _open_line(row: Installment) -> OpenLine:
    return OpenLine(
        ref=row.id,
        sequence=row.sequence,
        late_fee=row.late_fee - row.paid_late_fee,
        fee=row.fee - row.paid_fee,
        interest=row.interest - row.paid_interest,
        principal=row.principal - row.paid_principal,
    )


async def _installments(session: AsyncSession, plan: Plan) -> list[Installment]:
    rows = await session.execute(
        select(Installment)
        .where(
            Installment.merchant_id == plan.merchant_id,
            Installment.plan_id == plan.id,
            Installment.schedule_version == plan.schedule_version,
        )
        .order_by(Installment.sequence)
    )
    return list(rows.scalars())


async def _find(
    session: AsyncSession, merchant_id: uuid.UUID, payment_id: str, *, lock: bool = False
) -> Payment | None:
    query = select(Payment).where(
        Payment.merchant_id == merchant_id, Payment.payment_id == payment_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _check_currency(plan: Plan, currency: str) -> None:
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


async def _new_payment(
    session: AsyncSession,
    plan: Plan,
    payment_id: str,
    status: PaymentStatus,
    amount: int,
    currency: str,
    at: datetime,
    source: str,
    failure_code: str | None = None,
) -> Payment:
    payment = Payment(
        id=uuid7(),
        merchant_id=plan.merchant_id,
        plan_id=plan.id,
        payment_id=payment_id,
        status=status.value,
        amount=amount,
        currency=currency,
        paid_at=at,
        failure_code=failure_code,
        source=source,
    )
    session.add(payment)
    await session.flush()
    return payment


async def _settle(session: AsyncSession, plan: Plan, rows: Sequence[Installment]) -> None:
    """After money moved: statuses and delinquency as of today, then the plan's own status."""
    await session.flush()
    await refresh(session, [plan.id], clock.today())
    await session.refresh(plan)
    await activate_if_ready(session, plan)
    everything_paid = all(_owed(r) <= 0 for r in rows)
    if everything_paid and plan.status in (
        PlanStatus.PENDING,
        PlanStatus.ACTIVE,
        PlanStatus.DEFAULTED,
    ):
        plan.status = PlanStatus.PAID_OFF.value
        plan.updated_at = clock.now()
        events.record(session, plan.merchant_id, "plan.paid_off", {}, plan_id=plan.id)
    elif not everything_paid and plan.status == PlanStatus.PAID_OFF:
        plan.status = PlanStatus.ACTIVE.value
        plan.updated_at = clock.now()
        events.record(session, plan.merchant_id, "plan.reopened", {}, plan_id=plan.id)
    await session.flush()


async def apply_payment(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID,
    payment_id: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    source: str,
) -> Payment:
    plan = await get_plan_row(session, merchant_id, plan_id, lock=True)
    existing = await _find(session, merchant_id, payment_id)
    if existing is not None:
        same = (existing.plan_id, existing.amount, existing.currency) == (plan.id, amount, currency)
        if same and existing.status != PaymentStatus.FAILED:
            return existing
        raise _reused(payment_id)
    _check_currency(plan, currency)
    if plan.status == PlanStatus.CANCELLED:
        raise Problem(409, "plan-closed", "Plan closed", "A cancelled plan takes no payments")
    rows = await _installments(session, plan)
    result = allocate([_open_line(r) for r in rows], amount)
    payment = await _new_payment(
        session, plan, payment_id, PaymentStatus.SUCCEEDED, amount, currency, paid_at, source
    )
    by_id = {r.id: r for r in rows}
    for portion in result.portions:
        row = by_id[portion.ref]
        field = _PAID_FIELD[portion.component]
        setattr(row, field, getattr(row, field) + portion.amount)
        session.add(
            Allocation(
                merchant_id=merchant_id,
                plan_id=plan.id,
                payment_id=payment.id,
                installment_id=row.id,
                component=portion.component.value,
                amount=portion.amount,
            )
        )
    if result.credit:
        session.add(
            Allocation(
                merchant_id=merchant_id,
                plan_id=plan.id,
                payment_id=payment.id,
                installment_id=None,
                component=CREDIT,
                amount=result.credit,
            )
        )
        plan.credit_balance += result.credit
    events.record(
        session,
        merchant_id,
        "payment.applied",
        {
            "payment_id": payment_id,
            "amount": amount,
            "currency": currency,
            "applied": result.applied,
            "credit": result.credit,
        },
        plan_id=plan.id,
    )
    if result.credit:
        events.record(
            session,
            merchant_id,
            "plan.credit_balance",
            {"payment_id": payment_id, "credit": result.credit, "balance": plan.credit_balance},
            plan_id=plan.id,
        )
    await _settle(session, plan, rows)
    return payment


async def record_failure(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID,
    payment_id: str,
    amount: int,
    currency: str,
    failed_at: datetime,
    failure_code: str | None,
    source: str,
) -> Payment:
    """A failed payment changes no balance; it is kept, and told as an event."""
    plan = await get_plan_row(session, merchant_id, plan_id, lock=True)
    existing = await _find(session, merchant_id, payment_id)
    if existing is not None:
        if existing.status == PaymentStatus.FAILED and existing.plan_id == plan.id:
            return existing
        raise _reused(payment_id)
    _check_currency(plan, currency)
    payment = await _new_payment(
        session,
        plan,
        payment_id,
        PaymentStatus.FAILED,
        amount,
        currency,
        failed_at,
        source,
        failure_code,
    )
    events.record(
        session,
        merchant_id,
        "payment.failed",
        {"payment_id": payment_id, "amount": amount, "failure_code": failure_code},
        plan_id=plan.id,
    )
    await session.flush()
    return payment


async def reverse_payment(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID,
    payment_id: str,
    amount: int,
    reason: str | None,
) -> Payment:
    """Re-open exactly what the payment had paid (and take back its credit)."""
    plan = await get_plan_row(session, merchant_id, plan_id, lock=True)
    payment = await _find(session, merchant_id, payment_id, lock=True)
    if payment is None or payment.plan_id != plan.id:
        detail = f"No payment {payment_id!r} on this plan to reverse (yet)"
        raise validation_problem([field_problem("data.payment_id", detail, "unknown_payment")])
    if payment.status == PaymentStatus.REVERSED:
        return payment
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Problem(409, "not-reversible", "Not reversible", "Only a succeeded payment reverses")
    if amount != payment.amount:
        detail = f"A reversal takes back the whole payment ({payment.amount}), not part of it"
        raise validation_problem([field_problem("data.amount", detail, "partial_reversal")])
    net: dict[tuple[uuid.UUID | None, str], int] = defaultdict(int)
    for alloc in (
        await session.execute(
            select(Allocation).where(
                Allocation.merchant_id == merchant_id, Allocation.payment_id == payment.id
            )
        )
    ).scalars():
        net[(alloc.installment_id, alloc.component)] += alloc.amount
    rows = await _installments(session, plan)
    by_id = {r.id: r for r in rows}
    for (installment_id, component), paid in net.items():
        if paid <= 0:
            continue
        if installment_id is None:
            plan.credit_balance -= paid
        else:
            row = by_id[installment_id]
            field = _PAID_FIELD[Component(component)]
            setattr(row, field, getattr(row, field) - paid)
        session.add(
            Allocation(
                merchant_id=merchant_id,
                plan_id=plan.id,
                payment_id=payment.id,
                installment_id=installment_id,
                component=component,
                amount=-paid,
            )
        )
    payment.status = PaymentStatus.REVERSED.value
    payment.reversed_at = clock.now()
    payment.reversal_reason = reason
    events.record(
        session,
        merchant_id,
        "payment.reversed",
        {"payment_id": payment_id, "amount": payment.amount, "reason": reason},
        plan_id=plan.id,
    )
    await _settle(session, plan, rows)
    return payment


async def _wire(session: AsyncSession, payments: Sequence[Payment]) -> list[PaymentOut]:
    if not payments:
        return []
    merchant_id = payments[0].merchant_id
    rows = (
        await session.execute(
            select(Allocation, Installment.sequence)
            .outerjoin(Installment, Installment.id == Allocation.installment_id)
            .where(
                Allocation.merchant_id == merchant_id,
                Allocation.payment_id.in_([p.id for p in payments]),
            )
            .order_by(Allocation.id)
        )
    ).all()
    by_payment: dict[uuid.UUID, list[AllocationOut]] = defaultdict(list)
    credit: dict[uuid.UUID, int] = defaultdict(int)
    for alloc, sequence in rows:
        by_payment[alloc.payment_id].append(
            AllocationOut(
                installment_id=alloc.installment_id,
                sequence=sequence,
                component=alloc.component,
                amount=alloc.amount,
            )
        )
        if alloc.component == CREDIT:
            credit[alloc.payment_id] += alloc.amount
    return [
        PaymentOut(
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
            credit=credit[p.id],
            allocations=by_payment[p.id],
            created_at=p.created_at,
        )
        for p in payments
    ]


async def payment_out(session: AsyncSession, payment: Payment) -> PaymentOut:
    await session.refresh(payment)
    return (await _wire(session, [payment]))[0]


async def list_payments(
    session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID, page: PageParams
) -> PaymentList:
    await get_plan_row(session, merchant_id, plan_id)
    query = select(Payment).where(Payment.merchant_id == merchant_id, Payment.plan_id == plan_id)
    if (after := uuid_cursor(page.after)) is not None:
        query = query.where(Payment.id > after)
    rows = list((await session.execute(query.order_by(Payment.id).limit(page.limit + 1))).scalars())
    page_rows = rows[: page.limit]
    return PaymentList(
        data=await _wire(session, page_rows),
        next_cursor=next_cursor(rows, page.limit, page_rows[-1].id if page_rows else None),
    )

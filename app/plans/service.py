"""Plans: read, and turned into their wire form. Creation is `create`; the statements are in
`repository`. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.engine.delinquency import bucket
from app.events import service as events
from app.events.schemas import EventList
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.plans import repository
from app.plans.draft import PlanLine, PlanRecord
from app.plans.schemas import (
    AgreementStatus,
    Delinquency,
    InstallmentOut,
    PlanFilters,
    PlanList,
    PlanOut,
)


def _installment_out(line: PlanLine) -> InstallmentOut:
    return InstallmentOut(
        id=line.id,
        sequence=line.sequence,
        kind=line.kind,
        due_date=line.due_date,
        principal=line.principal,
        interest=line.interest,
        fee=line.fee,
        late_fee=line.late_fee,
        amount=line.amount,
        amount_paid=line.amount_paid,
        amount_due=line.amount + line.late_fee - line.amount_paid,
        status=line.status,
    )


def to_wire(plan: PlanRecord, lines: Sequence[PlanLine], accepted_at: datetime | None) -> PlanOut:
    return PlanOut(
        id=plan.id,
        status=plan.status,
        customer_id=plan.customer_id,
        order_id=plan.order_id,
        product_id=plan.product_id,
        product_version=plan.product_version,
        amount=plan.amount,
        currency=plan.currency,
        deposit_amount=plan.deposit_amount,
        amount_financed=plan.amount_financed,
        finance_charge=plan.finance_charge,
        total_of_payments=plan.total_of_payments,
        total_sale_price=plan.total_sale_price,
        apr=f"{plan.apr:.2f}",
        first_due_date=plan.first_due_date,
        last_due_date=plan.last_due_date,
        start_date=plan.start_date,
        credit_balance=plan.credit_balance,
        terms=plan.terms,
        installments=[_installment_out(line) for line in lines],
        delinquency=Delinquency(
            state=plan.delinquency_state,
            days_past_due=plan.days_past_due,
            bucket=bucket(plan.days_past_due),
            since=plan.delinquency_since,
        ),
        agreement=AgreementStatus(required=plan.requires_agreement, accepted_at=accepted_at),
        metadata=plan.metadata,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def get_plan(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> PlanOut:
    return to_wire(*await repository.get(session, merchant_id, plan_id))


async def list_plans(
    session: AsyncSession, merchant_id: uuid.UUID, filters: PlanFilters, page: PageParams
) -> PlanList:
    rows = await repository.page(
        session,
        merchant_id,
        customer_id=filters.customer_id,
        order_id=filters.order_id,
        status=filters.status,
        before=uuid_cursor(page.after),
        limit=page.limit + 1,
    )
    page_rows = rows[: page.limit]
    cursor = next_cursor(rows, page.limit, page_rows[-1][0].id if page_rows else None)
    return PlanList(data=[to_wire(*row) for row in page_rows], next_cursor=cursor)


async def plan_events(
    session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID, page: PageParams
) -> EventList:
    await repository.check_exists(session, merchant_id, plan_id)
    return await events.feed(session, merchant_id, page, plan_id=plan_id)

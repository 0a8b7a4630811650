"""Plans: made once from a product's offer, then read. Services flush; the edge commits."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from fastapi import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.agreements import service as agreements
from app.eligibility.service import (
    NO_HISTORY,
    counts_plans,
    customer_lock,
    found_with_history,
    not_eligible,
    product_and_history,
    reasons_against,
)
from app.engine import Schedule
from app.engine.delinquency import DelinquencyState, bucket
from app.engine.installments import InstallmentStatus
from app.engine.status import PlanEvent, PlanStatus, event_data, next_status
from app.errors import Problem, field_problem, not_found, validation_problem
from app.events import service as events
from app.events.schemas import EventList
from app.events.service import NewEvent
from app.idempotency import Answer, at_once
from app.models import Acceptance, Installment, Plan, uuid7
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.plans import repository
from app.plans.schemas import (
    AgreementStatus,
    Delinquency,
    InstallmentOut,
    PlanCreate,
    PlanFilters,
    PlanList,
    PlanOut,
)
from app.products import offers
from app.products import service as products
from app.products.schemas import ProductDefinition
from app.products.service import VersionedProduct
from app.quotes import service as quotes
from app.quotes.schemas import Terms


def _terms_for(definition: ProductDefinition, body: PlanCreate) -> Terms:
    if body.currency is not None and body.currency != definition.currency:
        detail = f"This product lends in {definition.currency}"
        raise validation_problem([field_problem("currency", detail, "currency_mismatch")])
    offer = definition.offer_for(body.installments, body.frequency)
    if offer is None:
        choices = ", ".join(f"{o.installments} {o.frequency}" for o in definition.offers)
        detail = f"The product has no such offer; it offers: {choices}"
        raise validation_problem([field_problem("installments", detail, "no_such_offer")])
    offers.check_amount(definition, body.amount)
    if not offer.accepts(body.amount):
        detail = "This offer is not available for this amount"
        raise validation_problem([field_problem("amount", detail, "offer_not_available")])
    deposit = offers.resolve_deposit(definition, body.amount, body.deposit)
    start = body.start_date or clock.today()
    return offers.terms_for(definition, offer, body.amount, start, deposit)


def _new_installments(schedule: Schedule) -> list[InstallmentOut]:
    today = clock.today()
    return [
        InstallmentOut(
            id=uuid7(),
            sequence=line.sequence,
            kind=line.kind.value,
            due_date=line.due_date,
            principal=line.principal,
            interest=line.interest,
            fee=line.fee,
            late_fee=0,
            amount=line.amount,
            amount_paid=0,
            amount_due=line.amount,
            status=InstallmentStatus.DUE if line.due_date <= today else InstallmentStatus.SCHEDULED,
        )
        for line in schedule.lines
    ]


@dataclass(frozen=True, slots=True)
class _Draft:
    """A plan about to be written: the answer to send, its agreement and its events."""

    plan: PlanOut
    agreement: repository.NewAgreement
    events: list[NewEvent]


def _draft(body: PlanCreate, product: VersionedProduct, merchant_name: str) -> _Draft:
    """The plan `body` asks for under this version of the product; a 422 problem when the
    product offers no such terms."""
    definition = product.definition
    terms = _terms_for(definition, body)
    schedule = quotes.build(terms)
    active = schedule.deposit_amount == 0 and not definition.require_agreement
    now = clock.now()
    plan = PlanOut(
        id=uuid7(),
        status=PlanStatus.ACTIVE if active else PlanStatus.PENDING,
        customer_id=body.customer_id,
        order_id=body.order_id,
        product_id=product.id,
        product_version=product.version,
        amount=body.amount,
        currency=definition.currency,
        deposit_amount=schedule.deposit_amount,
        amount_financed=schedule.amount_financed,
        finance_charge=schedule.finance_charge,
        total_of_payments=schedule.total_of_payments,
        total_sale_price=schedule.total_sale_price,
        apr=f"{schedule.apr:.2f}",
        first_due_date=schedule.first_due_date,
        last_due_date=schedule.last_due_date,
        start_date=terms.start_date,
        credit_balance=0,
        terms=terms,
        installments=_new_installments(schedule),
        delinquency=Delinquency(state="current", days_past_due=0, bucket=bucket(0), since=None),
        agreement=AgreementStatus(required=definition.require_agreement, accepted_at=None),
        metadata=dict(body.metadata),
        created_at=now,
        updated_at=now,
    )
    html = agreements.render(
        plan.id, merchant_name, body.customer_id, body.order_id, schedule, definition
    )
    created: dict[str, object] = {
        "status": plan.status.value,
        "amount": plan.amount,
        "currency": plan.currency,
    }
    events: list[NewEvent] = [("plan.created", created)]
    if active:
        events.append(("plan.activated", {}))
    agreement = repository.NewAgreement(uuid7(), html, hashlib.sha256(html.encode()).digest())
    return _Draft(plan, agreement, events)


@dataclass(frozen=True, slots=True)
class AtOnce:
    """A plan drafted on the product as this process last read it, and what the statement that
    writes it at once must check (`create_plan_at_once`)."""

    draft: _Draft
    guard: repository.Guard


def draft_at_once(merchant_id: uuid.UUID, body: PlanCreate) -> AtOnce | None:
    """The plan `body` asks for, on the product as this process last read it, to be written in
    one statement; None when it cannot be, and the claim-first flow (`create_plan`) must decide:
    the product not read yet here, or limiting how many plans a customer may have (those are
    counted under the customer's lock), or the request refused on what was read (which may be
    stale). Drafted before a connection is taken, so none is held for the computing."""
    known = products.last_read_current(merchant_id, body.product_id)
    if known is None:
        return None
    product, merchant_name = known
    definition = product.definition
    if counts_plans(definition.eligibility):
        return None
    try:
        draft = _draft(body, product, merchant_name)
    except Problem:
        return None
    if reasons_against(definition, body.amount, definition.currency, NO_HISTORY):
        return None
    guard = repository.Guard(
        merchant_name,
        definition.eligibility.block_if_delinquent,
        customer_lock(merchant_id, body.customer_id),
    )
    return AtOnce(draft, guard)


async def create_plan_at_once(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, drafted: AtOnce, answer: Answer
) -> Response | None:
    """Write the drafted plan with its answer in one statement (idempotency.at_once); None when
    it wrote nothing: the product changed since it was read, the customer is in bad standing,
    or the key is known (a replay, a twin). The claim-first flow must decide then."""
    draft, guard = drafted.draft, drafted.guard
    return await at_once(
        answer,
        lambda a: repository.insert_plan(
            conn, merchant_id, draft.plan, draft.agreement, draft.events, a, guard
        ),
    )


async def create_plan(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, body: PlanCreate, answer: Answer
) -> PlanOut:
    """Make the plan from what `answer.found` holds (eligibility.service.product_and_history_read,
    read with the idempotency claim). The caller holds the customer's lock
    (eligibility.customer_lock), so two checkouts at once cannot both pass a limit: when the
    product's rules count the customer's plans, they are counted again here, under it."""
    product, merchant_name, past = found_with_history(body.product_id, answer.found)
    products.remember_current(merchant_id, product, merchant_name)
    definition = product.definition
    draft = _draft(body, product, merchant_name)
    if counts_plans(definition.eligibility):
        *_, past = await product_and_history(conn, merchant_id, body.product_id, body.customer_id)
    reasons = reasons_against(definition, body.amount, definition.currency, past)
    if reasons:
        raise not_eligible(reasons)
    await repository.insert_plan(
        conn, merchant_id, draft.plan, draft.agreement, draft.events, answer
    )
    return draft.plan


def _installment_out(row: Installment) -> InstallmentOut:
    return InstallmentOut(
        id=row.id,
        sequence=row.sequence,
        kind=row.kind,
        due_date=row.due_date,
        principal=row.principal,
        interest=row.interest,
        fee=row.fee,
        late_fee=row.late_fee,
        amount=row.amount,
        amount_paid=row.amount_paid,
        amount_due=row.amount + row.late_fee - row.amount_paid,
        status=InstallmentStatus(row.status),
    )


def to_wire(
    plan: Plan, installments: Sequence[Installment], acceptance: Acceptance | None
) -> PlanOut:
    return PlanOut(
        id=plan.id,
        status=PlanStatus(plan.status),
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
        terms=Terms.model_validate(plan.terms),
        installments=[_installment_out(i) for i in sorted(installments, key=lambda i: i.sequence)],
        delinquency=Delinquency(
            state=plan.delinquency_state,
            days_past_due=plan.days_past_due,
            bucket=bucket(plan.days_past_due),
            since=plan.delinquency_since,
        ),
        agreement=AgreementStatus(
            required=plan.requires_agreement,
            accepted_at=acceptance.accepted_at if acceptance else None,
        ),
        metadata=plan.plan_metadata,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def get_plan_row(
    session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID, *, lock: bool = False
) -> Plan:
    query = select(Plan).where(Plan.id == plan_id, Plan.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    plan = (await session.execute(query)).scalar_one_or_none()
    if plan is None:
        raise not_found("plan")
    return plan


async def _wire_many(session: AsyncSession, plans: Sequence[Plan]) -> list[PlanOut]:
    if not plans:
        return []
    merchant_id = plans[0].merchant_id
    ids = [p.id for p in plans]
    rows = (
        await session.execute(
            select(Installment).where(
                Installment.merchant_id == merchant_id, Installment.plan_id.in_(ids)
            )
        )
    ).scalars()
    by_plan: dict[uuid.UUID, list[Installment]] = {i: [] for i in ids}
    versions = {p.id: p.schedule_version for p in plans}
    for row in rows:
        if row.schedule_version == versions[row.plan_id]:
            by_plan[row.plan_id].append(row)
    accepted = {
        a.plan_id: a
        for a in (
            await session.execute(
                select(Acceptance).where(
                    Acceptance.merchant_id == merchant_id, Acceptance.plan_id.in_(ids)
                )
            )
        ).scalars()
    }
    return [to_wire(p, by_plan[p.id], accepted.get(p.id)) for p in plans]


async def get_plan(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> PlanOut:
    plan = await get_plan_row(session, merchant_id, plan_id)
    return (await _wire_many(session, [plan]))[0]


async def list_plans(
    session: AsyncSession, merchant_id: uuid.UUID, filters: PlanFilters, page: PageParams
) -> PlanList:
    query = select(Plan).where(Plan.merchant_id == merchant_id)
    if filters.customer_id is not None:
        query = query.where(Plan.customer_id == filters.customer_id)
    if filters.order_id is not None:
        query = query.where(Plan.order_id == filters.order_id)
    if filters.status is not None:
        query = query.where(Plan.status == filters.status.value)
    if (before := uuid_cursor(page.after)) is not None:
        query = query.where(Plan.id < before)
    rows = list(
        (await session.execute(query.order_by(Plan.id.desc()).limit(page.limit + 1))).scalars()
    )
    page_rows = rows[: page.limit]
    cursor = next_cursor(rows, page.limit, page_rows[-1].id if page_rows else None)
    return PlanList(data=await _wire_many(session, page_rows), next_cursor=cursor)


async def plan_events(
    session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID, page: PageParams
) -> EventList:
    await get_plan_row(session, merchant_id, plan_id)
    return await events.feed(session, merchant_id, page, plan_id=plan_id)


async def activate_if_ready(session: AsyncSession, plan: Plan) -> bool:
    """pending -> active when the engine says so (app.engine.status.next_status), after the
    agreement was accepted; and on to defaulted when the plan is already in default.

    The caller holds the plan's row lock.
    """
    if plan.status != PlanStatus.PENDING:
        return False
    deposit = (Installment.sequence == 0) & (Installment.amount_paid >= Installment.amount)
    paid_in_full = Installment.amount_paid >= Installment.amount + Installment.late_fee
    deposit_paid, everything_paid = (
        await session.execute(
            select(
                func.coalesce(func.bool_or(deposit), False),
                func.coalesce(func.bool_and(paid_in_full), False),
            ).where(
                Installment.merchant_id == plan.merchant_id,
                Installment.plan_id == plan.id,
                Installment.schedule_version == plan.schedule_version,
            )
        )
    ).one()
    accepted = (
        await session.execute(
            select(Acceptance.id).where(
                Acceptance.merchant_id == plan.merchant_id, Acceptance.plan_id == plan.id
            )
        )
    ).first() is not None
    status, steps = next_status(
        PlanStatus(plan.status),
        requires_agreement=plan.requires_agreement,
        accepted=accepted,
        deposit_paid=plan.deposit_amount == 0 or deposit_paid,
        everything_paid=everything_paid,
        delinquency=DelinquencyState(plan.delinquency_state),
    )
    if not steps:
        return False
    plan.status = status.value
    plan.updated_at = clock.now()
    for step in steps:
        data = event_data(step, plan.days_past_due)
        events.record(session, plan.merchant_id, step.value, dict(data), plan_id=plan.id)
    return PlanEvent.ACTIVATED in steps

"""A plan about to be made, drafted from a product's offer: pure, no I/O.

The draft is what the repository writes (the plan, its lines, its agreement and its events) and
what the answer is derived from (`service.to_wire`). A plan is born in the state the sweep would
give it on the day it is made: a plan imported with a past start date has its past lines overdue
and its delinquency counted from the oldest of them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app import clock
from app.agreements import service as agreements
from app.engine import Schedule
from app.engine.delinquency import DelinquencyState, assess
from app.engine.delinquency import since as state_since
from app.engine.installments import InstallmentStatus, installment_status
from app.engine.status import PlanEvent, PlanStatus, event_data, next_status
from app.errors import field_problem, validation_problem
from app.events.repository import NewEvent
from app.models import uuid7
from app.plans.schemas import PlanCreate
from app.products import offers
from app.products.repository import VersionedProduct
from app.products.schemas import ProductDefinition, Terms
from app.quotes import service as quotes


@dataclass(frozen=True, slots=True)
class PlanLine:
    """An installment of the plan's current schedule, and what was paid on it."""

    id: uuid.UUID
    sequence: int
    kind: str
    due_date: date
    principal: int
    interest: int
    fee: int
    late_fee: int
    amount: int
    amount_paid: int
    status: InstallmentStatus


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A plan as kept: its terms, disclosure, status and delinquency (the `plans` columns)."""

    id: uuid.UUID
    status: PlanStatus
    customer_id: str
    order_id: str
    product_id: uuid.UUID
    product_version: int
    amount: int
    currency: str
    deposit_amount: int
    amount_financed: int
    finance_charge: int
    total_of_payments: int
    total_sale_price: int
    apr: Decimal
    start_date: date
    first_due_date: date
    last_due_date: date
    terms: Terms
    metadata: dict[str, str]
    requires_agreement: bool
    credit_balance: int
    delinquency_state: DelinquencyState
    days_past_due: int
    delinquency_since: date | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewAgreement:
    id: uuid.UUID
    html: str
    sha256: bytes


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """What making the plan writes, all or nothing."""

    merchant_id: uuid.UUID
    plan: PlanRecord
    lines: list[PlanLine]
    agreement: NewAgreement
    events: list[NewEvent] = field(default_factory=list)


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


def _lines(schedule: Schedule, today: date) -> list[PlanLine]:
    return [
        PlanLine(
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
            status=installment_status(
                due_date=line.due_date, as_of=today, owed=line.amount, paid=0
            ),
        )
        for line in schedule.lines
    ]


def draft(
    merchant_id: uuid.UUID, body: PlanCreate, product: VersionedProduct, merchant_name: str
) -> PlanDraft:
    """The plan `body` asks for under this version of the product; a 422 problem when the
    product offers no such terms."""
    definition = product.definition
    terms = _terms_for(definition, body)
    schedule = quotes.build(terms)
    today, now = clock.today(), clock.now()
    lines = _lines(schedule, today)
    policy = definition.delinquency_policy()
    tolerance = policy.past_due_tolerance
    owing = [line.due_date for line in lines if line.due_date < today and line.amount > tolerance]
    oldest = min(owing, default=None)
    delinquency = assess(oldest, today, policy.grace_days, policy.default_after_days)
    # Born pending and moved as the engine moves any plan: active once nothing is awaited (no
    # deposit, no signature asked), then defaulted when its delinquency says so.
    status, steps = next_status(
        PlanStatus.PENDING,
        requires_agreement=definition.require_agreement,
        accepted=False,
        deposit_paid=schedule.deposit_amount == 0,
        everything_paid=False,
        delinquency=delinquency.state,
    )
    activated = PlanEvent.ACTIVATED in steps
    born = PlanStatus.ACTIVE if activated else PlanStatus.PENDING
    created = {"status": born.value, "amount": body.amount, "currency": definition.currency}
    events: list[NewEvent] = [("plan.created", created)]
    if activated:
        events.append((PlanEvent.ACTIVATED.value, {}))
    since = None
    if oldest is not None and delinquency.state is not DelinquencyState.CURRENT:
        since = state_since(
            delinquency.state, oldest, today, policy.grace_days, policy.default_after_days
        )
        moved = {
            "from": DelinquencyState.CURRENT.value,
            "to": delinquency.state.value,
            "days_past_due": delinquency.days_past_due,
            "since": since.isoformat(),
        }
        events.append(("plan.delinquency_changed", moved))
    if PlanEvent.DEFAULTED in steps:
        defaulted = event_data(PlanEvent.DEFAULTED, delinquency.days_past_due)
        events.append((PlanEvent.DEFAULTED.value, defaulted))
    plan_id = uuid7()
    html = agreements.render(
        plan_id, merchant_name, body.customer_id, body.order_id, schedule, definition
    )
    plan = PlanRecord(
        id=plan_id,
        status=status,
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
        apr=schedule.apr.quantize(Decimal("0.01")),
        start_date=terms.start_date,
        first_due_date=schedule.first_due_date,
        last_due_date=schedule.last_due_date,
        terms=terms,
        metadata=dict(body.metadata),
        requires_agreement=definition.require_agreement,
        credit_balance=0,
        delinquency_state=delinquency.state,
        days_past_due=delinquency.days_past_due,
        delinquency_since=since,
        created_at=now,
        updated_at=now,
    )
    agreement = NewAgreement(uuid7(), html, hashlib.sha256(html.encode()).digest())
    return PlanDraft(merchant_id, plan, lines, agreement, events)

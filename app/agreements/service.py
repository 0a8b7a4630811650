"""The written agreement: rendered once at plan creation, stored, signed by its SHA-256."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.agreements import repository
from app.agreements.document import AgreementData, AgreementLine, LateFeeTerms, render_agreement
from app.agreements.schemas import AcceptanceCreate, AcceptanceOut
from app.db import Connection
from app.engine import Schedule, currency_exponent
from app.engine.late_fees import LateFeeRules
from app.engine.status import PlanStatus
from app.errors import Problem
from app.events import repository as events
from app.models import Agreement, uuid7
from app.payments import repository as payments
from app.products.schemas import ProductDefinition
from app.servicing import service as servicing


def _late_fee_terms(policy: LateFeeRules | None) -> LateFeeTerms | None:
    """The document's terms, from the engine's policy (`LateFeePolicy.to_engine`): the one
    reading of the product's late fees."""
    if policy is None:
        return None
    return LateFeeTerms(
        grace_days=policy.grace_days,
        first_fee_amount=policy.first_amount,
        first_fee_percent=policy.first_percent,
        second_fee_after_days=policy.second_after_days,
        second_fee_amount=policy.second_amount,
        second_fee_percent=policy.second_percent,
        cap_per_installment=policy.cap_per_installment,
        cap_per_plan_percent=policy.cap_per_plan_percent,
        cap_per_plan_amount=policy.cap_per_plan_amount,
        cap_per_customer_12_months=policy.cap_per_customer_12_months,
    )


def render(
    plan_id: uuid.UUID,
    merchant_name: str,
    customer_id: str,
    order_id: str,
    schedule: Schedule,
    definition: ProductDefinition,
) -> str:
    """The agreement of a plan about to be made, as the HTML document the customer accepts."""
    terms = schedule.terms
    currency = definition.currency
    return render_agreement(
        AgreementData(
            plan_id=str(plan_id),
            merchant_name=merchant_name,
            customer_id=customer_id,
            order_id=order_id,
            currency=currency,
            currency_exponent=currency_exponent(currency),
            amount=terms.amount,
            deposit_amount=schedule.deposit_amount,
            amount_financed=schedule.amount_financed,
            finance_charge=schedule.finance_charge,
            total_of_payments=schedule.total_of_payments,
            total_sale_price=schedule.total_sale_price,
            apr=schedule.apr,
            interest_rate=terms.interest_rate,
            interest_method=terms.interest_method.value,
            frequency=terms.frequency.value,
            installments=terms.installments,
            start_date=terms.start_date,
            first_due_date=schedule.first_due_date,
            last_due_date=schedule.last_due_date,
            lines=tuple(
                AgreementLine(
                    sequence=line.sequence,
                    kind=line.kind.value,
                    due_date=line.due_date,
                    principal=line.principal,
                    interest=line.interest,
                    fee=line.fee,
                    amount=line.amount,
                )
                for line in schedule.lines
            ),
            late_fees=_late_fee_terms(definition.late_fee_policy()),
            default_after_days=definition.default_after_days,
            refund_strategy=definition.refund_strategy.value,
            require_signature=definition.require_agreement,
            agreement_date=clock.today(),
        )
    )


async def get(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> Agreement:
    return await repository.get(session, merchant_id, plan_id)


def _already_accepted() -> Problem:
    return Problem(
        409, "already-accepted", "Already accepted", "This plan's agreement was already accepted"
    )


async def accept(
    conn: Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID, body: AcceptanceCreate
) -> AcceptanceOut:
    """Record who accepted which exact document, when, under the plan's row lock; the plan
    becomes `active` if nothing else is awaited."""
    plan = await payments.lock_plan(conn, merchant_id, plan_id)
    if plan.status not in (PlanStatus.PENDING, PlanStatus.ACTIVE):
        raise Problem(409, "plan-closed", "Plan closed", f"A {plan.status} plan cannot be accepted")
    agreement = await repository.kept(conn, merchant_id, plan_id)
    if body.document_sha256 is not None and body.document_sha256 != agreement.sha256.hex():
        raise Problem(
            409,
            "document-mismatch",
            "Not the current document",
            "The SHA-256 given is not the agreement's; fetch it again and show that one",
        )
    acceptance = repository.NewAcceptance(
        merchant_id=merchant_id,
        plan_id=plan_id,
        agreement_id=agreement.id,
        signer_name=body.signer_name,
        ip_address=str(body.ip_address),
        user_agent=body.user_agent,
        document_sha256=agreement.sha256,
        accepted_at=clock.now(),
    )
    if not await repository.accept(conn, uuid7(), acceptance):
        raise _already_accepted()
    accepted = {"signer_name": body.signer_name, "document_sha256": agreement.sha256.hex()}
    await events.record(conn, merchant_id, plan_id, [("agreement.accepted", accepted)])
    status = await servicing.settle_plan(conn, plan)
    return AcceptanceOut(
        plan_id=plan_id,
        signer_name=acceptance.signer_name,
        ip_address=acceptance.ip_address,
        user_agent=acceptance.user_agent,
        document_sha256=agreement.sha256.hex(),
        accepted_at=acceptance.accepted_at,
        plan_status=PlanStatus(status),
    )

"""The written agreement: rendered once at plan creation, stored, signed by its SHA-256."""

from __future__ import annotations

import ipaddress
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.agreements.document import AgreementData, AgreementLine, LateFeeTerms, render_agreement
from app.engine import Schedule, currency_exponent
from app.errors import Problem, not_found
from app.events import service as events
from app.models import Acceptance, Agreement, Plan
from app.products.schemas import LateFeePolicy, ProductDefinition


def _late_fee_terms(policy: LateFeePolicy | None) -> LateFeeTerms | None:
    if policy is None:
        return None
    second, cap = policy.second_fee, policy.cap_per_plan
    return LateFeeTerms(
        grace_days=policy.grace_days,
        first_fee_amount=policy.first_fee.amount,
        first_fee_percent=policy.first_fee.percent,
        second_fee_after_days=second.after_days if second else None,
        second_fee_amount=second.amount if second else None,
        second_fee_percent=second.percent if second else None,
        cap_per_installment=policy.cap_per_installment,
        cap_per_plan_percent=cap.percent if cap else None,
        cap_per_plan_amount=cap.amount if cap else None,
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
            late_fees=_late_fee_terms(definition.late_fees),
            default_after_days=definition.default_after_days,
            refund_strategy=definition.refund_strategy.value,
            require_signature=definition.require_agreement,
            agreement_date=clock.today(),
        )
    )


async def get(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> Agreement:
    row = (
        await session.execute(
            select(Agreement).where(
                Agreement.merchant_id == merchant_id, Agreement.plan_id == plan_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("plan")
    return row


def _already_accepted() -> Problem:
    return Problem(
        409, "already-accepted", "Already accepted", "This plan's agreement was already accepted"
    )


async def accept(
    session: AsyncSession,
    plan: Plan,
    signer_name: str,
    ip_address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    user_agent: str,
    document_sha256: str | None,
) -> Acceptance:
    """Record who accepted which exact document, when. The caller holds the plan's row lock."""
    if plan.status not in ("pending", "active"):
        raise Problem(409, "plan-closed", "Plan closed", f"A {plan.status} plan cannot be accepted")
    agreement = await get(session, plan.merchant_id, plan.id)
    if document_sha256 is not None and document_sha256 != agreement.sha256.hex():
        raise Problem(
            409,
            "document-mismatch",
            "Not the current document",
            "The SHA-256 given is not the agreement's; fetch it again and show that one",
        )
    existing = await session.execute(
        select(Acceptance.id).where(
            Acceptance.merchant_id == plan.merchant_id, Acceptance.plan_id == plan.id
        )
    )
    if existing.first() is not None:
        raise _already_accepted()
    acceptance = Acceptance(
        merchant_id=plan.merchant_id,
        plan_id=plan.id,
        agreement_id=agreement.id,
        signer_name=signer_name,
        ip_address=str(ip_address),
        user_agent=user_agent,
        document_sha256=agreement.sha256,
        accepted_at=clock.now(),
    )
    session.add(acceptance)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _already_accepted() from exc
    events.record(
        session,
        plan.merchant_id,
        "agreement.accepted",
        {"signer_name": signer_name, "document_sha256": agreement.sha256.hex()},
        plan_id=plan.id,
    )
    return acceptance

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.auth import MerchantId
from app.db import Session, connection
from app.errors import problem_responses
from app.idempotency import Answer, KeyHeader, answer_for, idempotent
from app.pagination import Page
from app.payments import service
from app.payments.schemas import PaymentCreate, PaymentList, PaymentOut

router = APIRouter(prefix="/v1/plans/{plan_id}/payments", tags=["payments"])


@router.post(
    "",
    response_model=PaymentOut,
    status_code=201,
    summary="Record a payment received for a plan",
    responses=problem_responses(401, 404, 409, 422),
)
async def create_payment(
    plan_id: uuid.UUID,
    body: PaymentCreate,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: KeyHeader,
) -> Response:
    """For internal services; the payment provider uses the signed webhook. Allocated oldest
    installment first (the deposit first of all) and, within one, late fees, fees, interest,
    then principal; beyond the whole plan it is a credit owed back. The same `payment_id` is
    applied once."""

    async with connection(request) as conn:

        async def work(_: Answer) -> PaymentOut:
            return await service.apply_payment(
                conn,
                await service.lock(conn, merchant_id, plan_id),
                body.payment_id,
                body.amount,
                body.currency,
                body.paid_at,
                "api",
            )

        answer = answer_for(request, idempotency_key, body, 201)
        return await idempotent(conn, merchant_id, answer, work)


@router.get(
    "",
    response_model=PaymentList,
    summary="A plan's payments and how each was allocated",
    responses=problem_responses(401, 404),
)
async def list_payments(
    plan_id: uuid.UUID, merchant_id: MerchantId, session: Session, page: Page
) -> PaymentList:
    return await service.list_payments(session, merchant_id, plan_id, page)

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.auth import MerchantId
from app.db import connection
from app.errors import problem_responses
from app.idempotency.service import IdempotentRequest, KeyHeader, idempotent, idempotent_request
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

        async def work(_: IdempotentRequest) -> PaymentOut:
            return await service.apply_payment(
                conn,
                await service.lock(conn, merchant_id, plan_id),
                body.payment_id,
                body.amount,
                body.currency,
                body.paid_at,
                "api",
            )

        paid = idempotent_request(request, idempotency_key, body, 201)
        answered = await idempotent(conn, merchant_id, paid, work)
    return answered.response()


@router.get(
    "",
    response_model=PaymentList,
    summary="A plan's payments and how each was allocated",
    responses=problem_responses(401, 404),
)
async def list_payments(
    plan_id: uuid.UUID, merchant_id: MerchantId, request: Request, page: Page
) -> PaymentList:
    async with connection(request) as conn:
        return await service.list_payments(conn, merchant_id, plan_id, page)

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth import MerchantId
from app.db import connection
from app.eligibility import service
from app.eligibility.schemas import EligibilityRequest, EligibilityResult
from app.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["eligibility"])


@router.post(
    "/eligibility",
    response_model=EligibilityResult,
    summary="Can this customer have a plan under this product, and on which offers?",
    responses=problem_responses(401, 404, 422),
)
async def check_eligibility(
    body: EligibilityRequest, merchant_id: MerchantId, request: Request
) -> EligibilityResult:
    """Decided from the customer's history in this service: open plans, plans started in the
    last 365 days, any plan delinquent or in default. Nothing is stored."""
    async with connection(request, transaction=False) as conn:
        return await service.check(conn, merchant_id, body)

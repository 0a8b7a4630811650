from __future__ import annotations

from fastapi import APIRouter

from app.auth import MerchantId
from app.db import Session
from app.errors import problem_responses
from app.quotes import service
from app.quotes.schemas import (
    AprRequest,
    AprResult,
    ProductQuoteRequest,
    Quote,
    QuoteList,
    QuoteRequest,
)

router = APIRouter(prefix="/v1", tags=["quotes"])


@router.post(
    "/quotes",
    response_model=Quote | QuoteList,
    summary="Quote a schedule: for some terms, or for every offer of a product",
    responses=problem_responses(400, 401, 404, 413, 422),
)
async def create_quote(
    body: QuoteRequest, merchant_id: MerchantId, session: Session
) -> Quote | QuoteList:
    """With terms, one quote: the whole schedule and its Truth in Lending disclosure. With
    `product_id` and `amount`, `{"data": [...]}`: one quote per offer the amount qualifies for.
    Nothing is stored."""
    if isinstance(body, ProductQuoteRequest):
        return await service.quote_product(session, merchant_id, body)
    return service.quote(body)


@router.post(
    "/apr",
    response_model=AprResult,
    summary="Compute the APR of any schedule",
    responses=problem_responses(400, 401, 413, 422),
)
async def compute_apr(request: AprRequest, merchant_id: MerchantId) -> AprResult:
    """Regulation Z Appendix J actuarial APR of an advance repaid by the given payments."""
    return service.check_apr(request)

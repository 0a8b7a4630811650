from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.auth import MerchantId
from app.db import connection
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
from app.responses import json_response

router = APIRouter(prefix="/v1", tags=["quotes"])


@router.post(
    "/quotes",
    response_model=Quote | QuoteList,
    summary="Quote a schedule: for some terms, or for every offer of a product",
    responses=problem_responses(400, 401, 404, 413, 422),
)
async def create_quote(body: QuoteRequest, merchant_id: MerchantId, request: Request) -> Response:
    """With terms, one quote: the whole schedule and its Truth in Lending disclosure. With
    `product_id` and `amount`, `{"data": [...]}`: one quote per offer the amount qualifies for.
    Nothing is stored."""
    if isinstance(body, ProductQuoteRequest):
        async with connection(request, transaction=False) as conn:
            return json_response(await service.quote_product(conn, merchant_id, body))
    return json_response(service.quote(body))


@router.post(
    "/apr",
    response_model=AprResult,
    summary="Compute the APR of any schedule",
    responses=problem_responses(400, 401, 413, 422),
)
async def compute_apr(body: AprRequest, merchant_id: MerchantId) -> Response:
    """Regulation Z Appendix J actuarial APR of an advance repaid by the given payments."""
    return json_response(service.check_apr(body))

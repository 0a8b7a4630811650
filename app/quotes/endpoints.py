from __future__ import annotations

from fastapi import APIRouter

from app.errors import problem_responses
from app.quotes import service
from app.quotes.schemas import AprRequest, AprResult, Quote, Terms

router = APIRouter(prefix="/v1", tags=["quotes"])


@router.post(
    "/quotes",
    response_model=Quote,
    summary="Quote a schedule for some terms",
    responses=problem_responses(400, 413, 422),
)
async def create_quote(terms: Terms) -> Quote:
    """Compute the whole schedule and its Truth in Lending disclosure. Nothing is stored."""
    return service.quote(terms)


@router.post(
    "/apr",
    response_model=AprResult,
    summary="Compute the APR of any schedule",
    responses=problem_responses(400, 413, 422),
)
async def compute_apr(request: AprRequest) -> AprResult:
    """Regulation Z Appendix J actuarial APR of an advance repaid by the given payments."""
    return service.check_apr(request)

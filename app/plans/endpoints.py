from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from app.agreements import service as agreements
from app.agreements.schemas import AcceptanceCreate, AcceptanceOut
from app.auth import MerchantId
from app.db import Session, connection
from app.engine.status import PlanStatus
from app.errors import problem_responses
from app.events.schemas import EventList
from app.idempotency.service import (
    KeyHeader,
    OptionalKeyHeader,
    idempotent,
    idempotent_request,
)
from app.pagination import Page
from app.plans import create, service
from app.plans.schemas import PlanCreate, PlanFilters, PlanList, PlanOut

router = APIRouter(prefix="/v1/plans", tags=["plans"])


@router.post(
    "",
    response_model=PlanOut,
    status_code=201,
    summary="Create a plan",
    responses=problem_responses(401, 404, 409, 422),
)
async def create_plan(
    body: PlanCreate,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: KeyHeader,
) -> Response:
    """Creates the plan once however often it is retried with the same `Idempotency-Key`.
    A customer the product's eligibility rules refuse gets a 422 problem listing `reasons`."""
    engine = request.app.state.engine
    made = idempotent_request(request, idempotency_key, body, 201)
    return (await create.create_plan(engine, merchant_id, body, made)).response()


@router.get(
    "",
    response_model=PlanList,
    summary="List plans, newest first",
    responses=problem_responses(401),
)
async def list_plans(
    merchant_id: MerchantId,
    session: Session,
    page: Page,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    order_id: Annotated[str | None, Query(max_length=200)] = None,
    status: PlanStatus | None = None,
) -> PlanList:
    filters = PlanFilters(customer_id=customer_id, order_id=order_id, status=status)
    return await service.list_plans(session, merchant_id, filters, page)


@router.get(
    "/{plan_id}",
    response_model=PlanOut,
    summary="Get a plan",
    responses=problem_responses(401, 404),
)
async def get_plan(plan_id: uuid.UUID, merchant_id: MerchantId, session: Session) -> PlanOut:
    return await service.get_plan(session, merchant_id, plan_id)


@router.get(
    "/{plan_id}/events",
    response_model=EventList,
    summary="A plan's history, oldest first",
    responses=problem_responses(401, 404),
)
async def plan_events(
    plan_id: uuid.UUID, merchant_id: MerchantId, session: Session, page: Page
) -> EventList:
    return await service.plan_events(session, merchant_id, plan_id, page)


@router.get(
    "/{plan_id}/agreement",
    response_class=HTMLResponse,
    summary="The plan's written agreement (HTML)",
    responses={
        200: {
            "content": {"text/html": {"example": "<!DOCTYPE html>..."}},
            "description": "The exact document to show and have accepted; its SHA-256 (hex) is"
            " in the `X-Document-SHA256` header.",
        },
        **problem_responses(401, 404),
    },
)
async def get_agreement(plan_id: uuid.UUID, merchant_id: MerchantId, session: Session) -> Response:
    agreement = await agreements.get(session, merchant_id, plan_id)
    digest = agreement.sha256.hex()
    return HTMLResponse(
        agreement.html, headers={"X-Document-SHA256": digest, "ETag": f'"{digest}"'}
    )


@router.post(
    "/{plan_id}/acceptance",
    response_model=AcceptanceOut,
    status_code=201,
    summary="Record the customer's acceptance of the agreement",
    responses=problem_responses(401, 404, 409, 422),
)
async def accept_agreement(
    plan_id: uuid.UUID,
    body: AcceptanceCreate,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: OptionalKeyHeader = None,
) -> Response:
    """Records the signer, time, IP address, user agent and the SHA-256 of the exact document.
    A second acceptance is a 409. The plan becomes `active` if nothing else is awaited."""

    accepted = idempotent_request(request, idempotency_key, body, 201)
    async with connection(request) as conn:
        answered = await idempotent(
            conn,
            merchant_id,
            accepted,
            lambda _: agreements.accept(conn, merchant_id, plan_id, body),
        )
    return answered.response()

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth import MerchantId
from app.config import Settings
from app.db import connection
from app.errors import problem_responses
from app.idempotency.service import (
    KeyHeader,
    OptionalKeyHeader,
    idempotent,
    idempotent_request,
)
from app.outbound import service
from app.outbound.schemas import (
    AttemptList,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    Outcome,
    RecoverRequest,
    Requeued,
    SecretRotated,
    TestSent,
)
from app.pagination import Page
from app.responses import json_response

PREFIX = "/v1/webhook-endpoints"
router = APIRouter(tags=["webhook endpoints"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    PREFIX,
    response_model=EndpointCreated,
    status_code=201,
    summary="Register an endpoint to receive events",
    responses=problem_responses(401, 409, 422),
)
async def create_endpoint(
    body: EndpointCreate, request: Request, merchant_id: MerchantId, idempotency_key: KeyHeader
) -> Response:
    """Events of the types asked for (`*`: all) are posted to `url`, signed with Standard
    Webhooks headers. The signing `secret` is in this response only (a replay under the same
    Idempotency-Key shows it again): it is derived when needed, never stored."""
    settings = _settings(request)
    async with connection(request) as conn:
        answered = await idempotent(
            conn,
            merchant_id,
            idempotent_request(request, idempotency_key, body, 201),
            lambda _: service.create_endpoint(conn, merchant_id, body, settings),
        )
    return service.with_secret(answered, settings.server_key()).response()


@router.get(
    PREFIX,
    response_model=EndpointList,
    summary="Your webhook endpoints, newest first",
    responses=problem_responses(401),
)
async def list_endpoints(request: Request, merchant_id: MerchantId, page: Page) -> Response:
    async with connection(request) as conn:
        return json_response(await service.list_endpoints(conn, merchant_id, page))


@router.get(
    PREFIX + "/{endpoint_id}",
    response_model=EndpointOut,
    summary="One webhook endpoint",
    responses=problem_responses(401, 404),
)
async def get_endpoint(
    endpoint_id: uuid.UUID, request: Request, merchant_id: MerchantId
) -> Response:
    async with connection(request) as conn:
        return json_response(await service.get_endpoint(conn, merchant_id, endpoint_id))


@router.patch(
    PREFIX + "/{endpoint_id}",
    response_model=EndpointOut,
    summary="Change an endpoint's URL, event types or description; disable or enable it",
    responses=problem_responses(401, 404),
)
async def update_endpoint(
    endpoint_id: uuid.UUID, body: EndpointUpdate, request: Request, merchant_id: MerchantId
) -> Response:
    """Enabling a disabled endpoint resumes where it stopped: the events of the meantime are
    delivered, and deliveries still pending get a new three-day retry window."""
    async with connection(request) as conn:
        endpoint = await service.update_endpoint(
            conn, merchant_id, endpoint_id, body, _settings(request)
        )
    return json_response(endpoint)


@router.delete(
    PREFIX + "/{endpoint_id}",
    status_code=204,
    summary="Delete an endpoint, with its deliveries and their attempts",
    responses=problem_responses(401, 404),
)
async def delete_endpoint(
    endpoint_id: uuid.UUID, request: Request, merchant_id: MerchantId
) -> Response:
    async with connection(request) as conn:
        await service.delete_endpoint(conn, merchant_id, endpoint_id)
    return Response(status_code=204)


@router.post(
    PREFIX + "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Issue a new signing secret; the old one keeps signing for 24 hours",
    responses=problem_responses(401, 404, 409),
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: OptionalKeyHeader = None,
) -> Response:
    """For 24 hours each delivery carries two `v1,` signatures, one per secret, so the receiver
    can switch to the new secret at any time in between."""
    settings = _settings(request)
    async with connection(request) as conn:
        answered = await idempotent(
            conn,
            merchant_id,
            idempotent_request(request, idempotency_key, None, 200),
            lambda _: service.rotate_secret(conn, merchant_id, endpoint_id),
        )
    return service.with_secret(answered, settings.server_key()).response()


@router.get(
    PREFIX + "/{endpoint_id}/deliveries",
    response_model=AttemptList,
    summary="Every attempt to deliver to the endpoint, newest first",
    responses=problem_responses(401, 404),
)
async def list_attempts(
    endpoint_id: uuid.UUID,
    request: Request,
    merchant_id: MerchantId,
    page: Page,
    outcome: Annotated[Outcome | None, Query(description="Only these outcomes.")] = None,
) -> Response:
    async with connection(request) as conn:
        attempts = await service.list_attempts(conn, merchant_id, endpoint_id, outcome, page)
    return json_response(attempts)


@router.post(
    PREFIX + "/{endpoint_id}/recover",
    response_model=Requeued,
    status_code=202,
    summary="Send again every delivery to the endpoint that failed since a time",
    responses=problem_responses(401, 404, 409),
)
async def recover(
    endpoint_id: uuid.UUID,
    body: RecoverRequest,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: OptionalKeyHeader = None,
) -> Response:
    """Deliveries queued since `since` and given up after three days are queued again, each
    with a new retry window (after an outage on your side, say)."""
    async with connection(request) as conn:
        return (
            await idempotent(
                conn,
                merchant_id,
                idempotent_request(request, idempotency_key, body, 202),
                lambda _: service.recover(conn, merchant_id, endpoint_id, body.since),
            )
        ).response()


@router.post(
    PREFIX + "/{endpoint_id}/test",
    response_model=TestSent,
    status_code=202,
    summary="Send the endpoint a test ping (an `endpoint.test` event)",
    responses=problem_responses(401, 404, 409),
)
async def send_test(
    endpoint_id: uuid.UUID,
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: OptionalKeyHeader = None,
) -> Response:
    """Queued like any delivery: its attempts show in the endpoint's deliveries."""
    async with connection(request) as conn:
        return (
            await idempotent(
                conn,
                merchant_id,
                idempotent_request(request, idempotency_key, None, 202),
                lambda _: service.send_test(conn, merchant_id, endpoint_id),
            )
        ).response()


@router.post(
    "/v1/events/{event_id}/redeliver",
    response_model=Requeued,
    status_code=202,
    tags=["events"],
    summary="Send an event again to every enabled endpoint subscribed to it",
    responses=problem_responses(401, 404, 409),
)
async def redeliver(
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    merchant_id: MerchantId,
    idempotency_key: OptionalKeyHeader = None,
) -> Response:
    async with connection(request) as conn:
        return (
            await idempotent(
                conn,
                merchant_id,
                idempotent_request(request, idempotency_key, None, 202),
                lambda _: service.redeliver(conn, merchant_id, event_id),
            )
        ).response()

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import MerchantId
from app.db import Session
from app.errors import problem_responses
from app.events import service
from app.events.schemas import EventList
from app.pagination import Page

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get(
    "",
    response_model=EventList,
    summary="Everything that happened, in order: a feed to poll with `after`",
    responses=problem_responses(401),
)
async def list_events(
    merchant_id: MerchantId,
    session: Session,
    page: Page,
    type: Annotated[str | None, Query(max_length=64, description="e.g. payment.applied")] = None,
    plan_id: uuid.UUID | None = None,
) -> EventList:
    """Pass the `next_cursor` you got as `after` to read on; with `has_more` false you are at the
    end for now: poll again later with the same cursor. An event appears once its transaction
    has committed and every older one has finished, so reading on never skips one."""
    return await service.feed(session, merchant_id, page, type_=type, plan_id=plan_id)

"""Events: written in the transaction of the change they record; never updated."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.events import repository
from app.events.schemas import EventList, EventOut
from app.models import Event
from app.pagination import PageParams, encode_pair, pair_cursor


def to_wire(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        type=event.type,
        created_at=event.created_at,
        effective_date=event.effective_date,
        plan_id=event.plan_id,
        data=event.data,
    )


async def feed(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    page: PageParams,
    *,
    type_: str | None = None,
    plan_id: uuid.UUID | None = None,
) -> EventList:
    """Events in commit order, gap-free: a page never shows an event while an older transaction
    that might still add one before it is running; the cursor is (txid, id) of the last one."""
    rows = await repository.feed(
        session, merchant_id, pair_cursor(page.after), page.limit + 1, type_=type_, plan_id=plan_id
    )
    page_rows = rows[: page.limit]
    # A feed has no end: the cursor always marks where to read on, even from an empty page.
    cursor = encode_pair(page_rows[-1].txid, page_rows[-1].id) if page_rows else page.after
    return EventList(
        data=[to_wire(e) for e in page_rows], next_cursor=cursor, has_more=len(rows) > page.limit
    )

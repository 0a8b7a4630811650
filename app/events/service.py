"""Events: written in the transaction of the change they record; never updated."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Event


def record(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    type_: str,
    data: dict[str, Any],
    *,
    plan_id: uuid.UUID | None = None,
    effective_date: date | None = None,
) -> Event:
    """Add the event to the session; it is written with the caller's next flush or commit."""
    event = Event(
        merchant_id=merchant_id,
        plan_id=plan_id,
        type=type_,
        data=data,
        effective_date=effective_date,
    )
    session.add(event)
    return event

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt


class Event(CreatedAt, Base):
    """Everything that happens, written in the transaction of the change: a plan's history, the
    merchant's feed, and the outbox that outbound webhook delivery reads."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "merchant_id", "txid", "id"),
        Index(None, "merchant_id", "plan_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The writing transaction's id. Ids are handed out before commit, so a reader paging by id
    # alone could step over a slow transaction's event; the feed pages by (txid, id) and shows
    # only transactions older than every one still running, so nothing can appear behind it.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text::bigint)")
    )
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID | None]
    type: Mapped[str] = mapped_column(String(64))
    # The business date the event is about (a sweep's as-of date), beside when it was written.
    effective_date: Mapped[date | None]
    data: Mapped[dict[str, Any]]

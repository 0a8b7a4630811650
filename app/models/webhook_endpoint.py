from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, uuid7


class WebhookEndpoint(CreatedAt, Base):
    """A merchant's receiver of outbound events. Its secret is derived from the server key, its
    id and `secret_version` (app.security.endpoint_secret), never stored."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "merchant_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    enabled: Mapped[bool] = mapped_column(server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    secret_version: Mapped[int] = mapped_column(server_default="1")
    # The version before the last rotation keeps signing beside the new one until then.
    previous_secret_expires_at: Mapped[datetime | None]
    # Since when every attempt to it failed (None: the last one succeeded, or none was made).
    failing_since: Mapped[datetime | None]
    # Where its dispatch over the events table stands: every event at or before (txid, id)
    # has its delivery row, or was not for it. Pages like the feed (app.events.service).
    cursor_txid: Mapped[int] = mapped_column(BigInteger)
    cursor_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

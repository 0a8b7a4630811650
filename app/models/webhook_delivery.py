from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

DELIVERY_STATUSES = "status IN ('pending', 'delivered', 'failed')"


class WebhookDelivery(Base):
    """One event owed to one endpoint: pending until an attempt gets a 2xx (delivered) or the
    retry window closes (failed). A sender holds it by a lease, not a row lock, while it posts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE"),
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint(DELIVERY_STATUSES, name="status_known"),
        # The senders' claim: what is due.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # Per-plan order: a later event of a plan waits for the earlier ones still pending.
        Index(
            "ix_webhook_deliveries_pending_plan",
            "endpoint_id",
            "plan_id",
            "event_id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "merchant_id", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    endpoint_id: Mapped[uuid.UUID]
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"))
    plan_id: Mapped[uuid.UUID | None]
    # The event's place among its plan's events (1, 2, ...), sent so a receiver can order them.
    sequence: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    give_up_at: Mapped[datetime]
    lease_id: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

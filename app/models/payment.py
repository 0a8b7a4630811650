from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Money, uuid7


class Payment(CreatedAt, Base):
    """Money that arrived for a plan (or failed to). Its amount is never edited: a reversal adds
    negative allocations and marks when it happened."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("merchant_id", "payment_id"),
        Index(None, "merchant_id", "plan_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    payment_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Money]
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]
    failure_code: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    reversed_at: Mapped[datetime | None]
    reversal_reason: Mapped[str | None] = mapped_column(String(100))


class Allocation(CreatedAt, Base):
    """Where a payment's money went, component by component. Append-only: a reversal writes the
    same rows with negative amounts. `installment_id` is null for a credit beyond the plan."""

    __tablename__ = "allocations"
    __table_args__ = (Index(None, "merchant_id", "payment_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    installment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("installments.id"))
    component: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Money]

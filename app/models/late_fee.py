from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Money, uuid7


class LateFee(CreatedAt, Base):
    """One step of the late-fee policy on one installment: assessed at most once, by the unique
    key, however often the sweep runs."""

    __tablename__ = "late_fees"
    __table_args__ = (
        UniqueConstraint("installment_id", "step"),
        Index(None, "merchant_id", "customer_id", "assessed_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    customer_id: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    installment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("installments.id"))
    step: Mapped[int]
    amount: Mapped[Money]
    assessed_on: Mapped[date]


class Reminder(CreatedAt, Base):
    """A rung of the reminder ladder reached by one installment: sent at most once."""

    __tablename__ = "reminders"

    installment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("installments.id"), primary_key=True
    )
    offset_days: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    sent_on: Mapped[date]

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Money


# Neither table has foreign keys, on purpose: only the sweep writes them, from installments it
# reads in the same transaction under their plan's lock (installments are never deleted), and a
# key's check per row was much of a catch-up sweep's time (migration 0004).
class LateFee(CreatedAt, Base):
    """One step of the late-fee policy on one installment: assessed at most once, by the primary
    key, however often the sweep runs."""

    __tablename__ = "late_fees"

    installment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    step: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[uuid.UUID]
    customer_id: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[uuid.UUID]
    amount: Mapped[Money]
    assessed_on: Mapped[date]


class Reminder(CreatedAt, Base):
    """A rung of the reminder ladder reached by one installment: sent at most once."""

    __tablename__ = "reminders"

    installment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    offset_days: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID]
    sent_on: Mapped[date]

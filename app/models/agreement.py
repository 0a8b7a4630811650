from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, uuid7


class Agreement(CreatedAt, Base):
    """The exact document a customer is asked to sign, rendered once when the plan is made."""

    __tablename__ = "agreements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), unique=True)
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))


class Acceptance(Base):
    __tablename__ = "acceptances"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), unique=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agreements.id"))
    signer_name: Mapped[str] = mapped_column(String(200))
    ip_address: Mapped[str] = mapped_column(INET)
    user_agent: Mapped[str] = mapped_column(String(1000))
    document_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    accepted_at: Mapped[datetime]

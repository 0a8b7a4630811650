from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, uuid7


class Product(CreatedAt, Base):
    """A credit product; its rules live in versions and a plan keeps the one it was made under."""

    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ProductVersion(CreatedAt, Base):
    __tablename__ = "product_versions"
    __table_args__ = (ForeignKeyConstraint(["product_id"], ["products.id"]),)

    product_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[uuid.UUID]
    definition: Mapped[dict[str, Any]]

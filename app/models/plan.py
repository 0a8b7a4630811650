from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.engine.status import OPEN, values
from app.models.base import Base, CreatedAt, Money, uuid7

# The statuses of a plan the sweep brings to a date (app.engine.status.OPEN), as SQL for the
# predicate of the index of their ids: a text written from the engine's set in the enum's order,
# so that it stays what migration 0005 created ("status IN ('pending', 'active', 'defaulted')").
OPEN_PLANS = "status IN ({})".format(", ".join(f"'{s}'" for s in values(OPEN)))


class Plan(CreatedAt, Base):
    __tablename__ = "plans"
    __table_args__ = (
        ForeignKeyConstraint(
            ["product_id", "product_version"],
            ["product_versions.product_id", "product_versions.version"],
        ),
        Index(None, "merchant_id", "customer_id"),
        Index(None, "merchant_id", "order_id"),
        # The sweep's claim walks the open plans in id order (app.delinquency.sweep).
        Index("ix_plans_open_id", "id", postgresql_where=text(OPEN_PLANS)),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("credit_balance >= 0", name="credit_not_negative"),
        # The sweep updates every open plan daily, payments often: room on the page keeps those
        # updates heap-only (HOT), with no new index entries. No index covers what they change.
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[uuid.UUID]
    product_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Money]
    deposit_amount: Mapped[Money]
    amount_financed: Mapped[Money]
    finance_charge: Mapped[Money]
    total_of_payments: Mapped[Money]
    total_sale_price: Mapped[Money]
    apr: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    start_date: Mapped[date]
    first_due_date: Mapped[date]
    last_due_date: Mapped[date]
    terms: Mapped[dict[str, Any]]
    plan_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")
    requires_agreement: Mapped[bool]
    schedule_version: Mapped[int] = mapped_column(default=1, server_default="1")
    credit_balance: Mapped[Money] = mapped_column(default=0, server_default="0")
    delinquency_state: Mapped[str] = mapped_column(
        String(20), default="current", server_default="current"
    )
    days_past_due: Mapped[int] = mapped_column(default=0, server_default="0")
    delinquency_since: Mapped[date | None]
    # The last business date the sweep brought this plan to; a sweep for D takes plans before D.
    swept_through: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Installment(Base):
    """One line of a plan's schedule and what has been paid on it.

    What is paid is a projection of the payment allocations (append-only, the payments issue);
    `amount` and `amount_paid` are computed by PostgreSQL so they can never drift.
    """

    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("plan_id", "schedule_version", "sequence"),
        Index(None, "merchant_id", "due_date"),
        CheckConstraint(
            "principal >= 0 AND interest >= 0 AND fee >= 0 AND late_fee >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint(
            "paid_principal BETWEEN 0 AND principal AND paid_interest BETWEEN 0 AND interest"
            " AND paid_fee BETWEEN 0 AND fee AND paid_late_fee BETWEEN 0 AND late_fee",
            name="paid_within_due",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    # Read by plan through the unique (plan_id, schedule_version, sequence) index.
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    schedule_version: Mapped[int] = mapped_column(default=1, server_default="1")
    sequence: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date]
    principal: Mapped[Money]
    interest: Mapped[Money]
    fee: Mapped[Money]
    late_fee: Mapped[Money] = mapped_column(default=0, server_default="0")
    paid_principal: Mapped[Money] = mapped_column(default=0, server_default="0")
    paid_interest: Mapped[Money] = mapped_column(default=0, server_default="0")
    paid_fee: Mapped[Money] = mapped_column(default=0, server_default="0")
    paid_late_fee: Mapped[Money] = mapped_column(default=0, server_default="0")
    amount: Mapped[Money] = mapped_column(Computed("principal + interest + fee"))
    amount_paid: Mapped[Money] = mapped_column(
        Computed("paid_principal + paid_interest + paid_fee + paid_late_fee")
    )
    status: Mapped[str] = mapped_column(String(20))
    paid_at: Mapped[datetime | None]

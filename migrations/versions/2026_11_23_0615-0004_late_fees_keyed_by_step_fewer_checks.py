"""late fees keyed by step, fewer checks

The sweep writes a late-fee row per step and a reminder per rung, up to a million of each on a
catch-up day, and each index or foreign key on those tables costs every one of those rows:

- late_fees is keyed by (installment_id, step), the key that keeps a step from being assessed
  twice; its surrogate `id` (never read) and the index on it go.
- The index (merchant_id, customer_id, assessed_on) goes: the cap per customer, its only reader,
  reaches a customer's late fees through the customer's plans and their installments instead.
- The foreign keys of late_fees (to plans and installments) and of reminders (to installments)
  go. Each ran a query per inserted row. Only the sweep writes these rows, from installments it
  reads in the same transaction under their plan's row lock, and installments are never deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("fk_reminders_installment_id_installments"), "reminders", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_late_fees_installment_id_installments"), "late_fees", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_late_fees_plan_id_plans"), "late_fees", type_="foreignkey")
    op.drop_index(op.f("ix_late_fees_merchant_id_customer_id_assessed_on"), table_name="late_fees")
    op.drop_constraint(op.f("pk_late_fees"), "late_fees", type_="primary")
    op.drop_column("late_fees", "id")
    op.drop_constraint(op.f("uq_late_fees_installment_id_step"), "late_fees", type_="unique")
    op.create_primary_key(op.f("pk_late_fees"), "late_fees", ["installment_id", "step"])


def downgrade() -> None:
    op.drop_constraint(op.f("pk_late_fees"), "late_fees", type_="primary")
    op.create_unique_constraint(
        op.f("uq_late_fees_installment_id_step"), "late_fees", ["installment_id", "step"]
    )
    op.add_column(
        "late_fees",
        sa.Column("id", sa.Uuid(), server_default=sa.text("uuidv7()"), nullable=False),
    )
    op.alter_column("late_fees", "id", server_default=None)
    op.create_primary_key(op.f("pk_late_fees"), "late_fees", ["id"])
    op.create_index(
        op.f("ix_late_fees_merchant_id_customer_id_assessed_on"),
        "late_fees",
        ["merchant_id", "customer_id", "assessed_on"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_late_fees_plan_id_plans"), "late_fees", "plans", ["plan_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_late_fees_installment_id_installments"),
        "late_fees",
        "installments",
        ["installment_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_reminders_installment_id_installments"),
        "reminders",
        "installments",
        ["installment_id"],
        ["id"],
    )

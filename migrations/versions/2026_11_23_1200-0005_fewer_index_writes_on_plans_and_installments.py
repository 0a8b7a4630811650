"""fewer index writes on plans and installments

Every day the sweep updates every open plan (at least `swept_through`), and payments update
plans too. The index on (swept_through, id) made each of those updates write a new entry in
every index of plans (an update that changes an indexed column cannot be a heap-only tuple,
HOT), and nothing read it: the sweep claims plans in id order. It goes, for an index on the ids
of open plans only, which the claim walks without stepping over the paid-off and cancelled
plans a book accumulates; a plan's status changes a few times in its life, its sweep marks
daily. Plans are filled to 85 % of a page, so an update has room to stay on its page (HOT).

The index on installments (plan_id) goes: the unique (plan_id, schedule_version, sequence) index
serves every read by plan, and each installment written (four or more a plan) or moved off its
page by an update (the sweep's statuses and late fees, payments) paid for both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_plans_swept_through_id"), table_name="plans")
    op.create_index(
        "ix_plans_open_id",
        "plans",
        ["id"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'active', 'defaulted')"),
    )
    # Applies to the pages written from now on (a VACUUM FULL would repack the old ones).
    op.execute("ALTER TABLE plans SET (fillfactor = 85)")
    op.drop_index(op.f("ix_installments_plan_id"), table_name="installments")


def downgrade() -> None:
    op.create_index(op.f("ix_installments_plan_id"), "installments", ["plan_id"], unique=False)
    op.execute("ALTER TABLE plans RESET (fillfactor)")
    op.drop_index("ix_plans_open_id", table_name="plans")
    op.create_index(
        op.f("ix_plans_swept_through_id"), "plans", ["swept_through", "id"], unique=False
    )

"""Bringing plans to a date: installment statuses and delinquency, set-based.

The same statement (repository.refresh) serves one plan right after a payment and thousands in
a sweep batch, so the two can never disagree. It mirrors the engine's rules
(app.engine.installments, the thresholds of app.engine.delinquency,
app.engine.status.delinquency_status) and takes the engine's sets as parameters;
tests/delinquency/test_sql_matches_engine.py checks that they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date

import asyncpg

from app.delinquency import repository
from app.delinquency.repository import LateFeeSteps, Standing


def _delinquency_events(written: Mapping[str, int]) -> int:
    return sum(n for kind, n in written.items() if kind.startswith("plan."))


async def refresh(conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date) -> int:
    """Recompute installment statuses and delinquency of these plans as of a date; returns how
    many delinquency events that wrote. The caller holds the plans' row locks."""
    return _delinquency_events((await repository.refresh(conn, plan_ids, as_of))[0])


async def refresh_plan(conn: asyncpg.Connection, plan_id: uuid.UUID, as_of: date) -> Standing:
    """`refresh` for one plan; its status and delinquency afterwards. The caller holds the
    plan's row lock."""
    _, (standing,) = await repository.refresh(conn, [plan_id], as_of)
    return standing


async def refresh_swept(
    conn: asyncpg.Connection, plan_ids: Sequence[uuid.UUID], as_of: date, late_fees: LateFeeSteps
) -> tuple[int, int]:
    """`refresh` for a sweep batch, which also: records `late_fees` with their events and adds
    them to the installments in the same row write as their statuses, marks the plans swept
    through `as_of` in the same row write as their delinquency, and sends each installment
    still owing the latest rung of its reminder ladder it reached, once. Returns how many
    delinquency events and how many reminders that wrote."""
    written, _ = await repository.refresh(conn, plan_ids, as_of, late_fees, sweep=True)
    reminders = sum(n for kind, n in written.items() if kind.startswith("installment."))
    return _delinquency_events(written), reminders

"""Servicing: what happens to a plan after checkout. Every change of money or state ends with
`settle`, which leaves the plan's installment statuses, delinquency and status as the sweep
would compute them today, in the caller's transaction, under the plan's row lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from app import clock
from app.delinquency.repository import Standing
from app.delinquency.service import refresh_plan
from app.engine.delinquency import DelinquencyState
from app.engine.installments import installment_status
from app.engine.status import PlanStatus, event_data, next_status
from app.payments import repository as payments
from app.payments.repository import InstallmentBalance, LockedPlan


def line_status(line: InstallmentBalance, as_of: date) -> str:
    """What the engine calls the installment today, from what is owed and paid on it."""
    return installment_status(
        due_date=line.due_date, as_of=as_of, owed=line.owed, paid=line.paid
    ).value


def _nothing_to_refresh(plan: LockedPlan, lines: Sequence[InstallmentBalance], today: date) -> bool:
    """True when bringing the plan to today provably changes nothing (the common payment: a
    current plan paid on time), so its recompute can be skipped: nothing is owed past its due
    date (days past due stays 0, the state `current`) and every installment already has the
    status the engine gives it today (the refresh SQL mirrors the engine, tested)."""
    if plan.delinquency_state != DelinquencyState.CURRENT or plan.days_past_due != 0:
        return False
    return all(
        (line.due_date >= today or line.owed <= 0) and line.status == line_status(line, today)
        for line in lines
    )


async def settle(
    conn: asyncpg.Connection, plan: LockedPlan, lines: Sequence[InstallmentBalance], accepted: bool
) -> str:
    """After money moved: statuses and delinquency as of today (with the status they move),
    then the plan's own status from the engine (app.engine.status.next_status); the status it
    ends with."""
    today = clock.today()
    standing = Standing(
        PlanStatus(plan.status), DelinquencyState(plan.delinquency_state), plan.days_past_due
    )
    if not _nothing_to_refresh(plan, lines, today):
        standing = await refresh_plan(conn, plan.id, today)
    status, steps = next_status(
        standing.status,
        requires_agreement=plan.requires_agreement,
        accepted=accepted,
        deposit_paid=plan.deposit_amount == 0
        or any(line.sequence == 0 and line.paid >= line.amount for line in lines),
        everything_paid=all(line.owed <= 0 for line in lines),
        delinquency=standing.state,
    )
    if steps:
        events = [(step.value, event_data(step, standing.days_past_due)) for step in steps]
        await payments.set_status(conn, plan, status, events)
    return status


async def settle_plan(conn: asyncpg.Connection, plan: LockedPlan) -> str:
    """`settle` on the locked plan's lines as stored (after a change that moved no money on
    them: an acceptance)."""
    lines, accepted = await payments.lines(conn, plan)
    return await settle(conn, plan, lines, accepted)

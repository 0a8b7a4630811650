"""Events: the one way they are written, and the feed's read.

An event is written in the statement or transaction of the change it records, never updated.
Every write goes through `insert_events`, whose column list is the events table's own: a
statement adds a plan's listed events with `insert_listed_events` (the types and the JSON of
each as two arrays, `:event_types` and `:event_data`, that `listed` builds), or selects the rows
it computes set-based (the delinquency refresh).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Event
from app.sql import statement

# An event a statement adds: its type and data (merchant and plan come from the statement).
NewEvent = tuple[str, dict[str, Any]]

_COLUMNS = "merchant_id, plan_id, type, effective_date, data"


def insert_events(rows: str, *, order_by: str) -> str:
    """SQL: insert the events `rows` selects (columns merchant_id, plan_id, type,
    effective_date, data; `e` names a row), in `order_by` order, which gives their ids."""
    # Composed of constant SQL.
    return f"""INSERT INTO events ({_COLUMNS})
        SELECT {_COLUMNS} FROM ({rows}) AS e ORDER BY {order_by}"""  # noqa: S608


def insert_listed_events(merchant: str, plan: str, where: str = "") -> str:
    """SQL: insert one plan's events listed in `:event_types` and `:event_data` (`listed`), in
    that order; `merchant` and `plan` are SQL expressions, `where` an optional WHERE clause
    (the statement's guard: "WHERE EXISTS (SELECT FROM payment)")."""
    rows = f"""
        SELECT {merchant}::uuid AS merchant_id, {plan}::uuid AS plan_id, l.type,
            NULL::date AS effective_date,
            l.data::jsonb AS data, l.n
        FROM unnest(:event_types::text[], :event_data::text[]) WITH ORDINALITY AS l(type, data, n)
        {where}"""  # noqa: S608 (constant SQL)
    return insert_events(rows, order_by="e.n")


def listed(events: Sequence[NewEvent]) -> dict[str, list[str]]:
    """`:event_types` and `:event_data`, the arrays `insert_listed_events` takes."""
    return {
        "event_types": [type_ for type_, _ in events],
        "event_data": [json.dumps(data) for _, data in events],
    }


_RECORD = statement(insert_listed_events(":merchant_id", ":plan_id"))


async def record(
    conn: asyncpg.Connection,
    merchant_id: uuid.UUID,
    plan_id: uuid.UUID | None,
    events: Sequence[NewEvent],
) -> None:
    """Write `events` of a plan (or of the merchant, `plan_id` None) on their own."""
    values = {"merchant_id": merchant_id, "plan_id": plan_id, **listed(events)}
    await conn.execute(_RECORD.text, *_RECORD.args(values))


async def feed(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    after: tuple[int, int] | None,
    limit: int,
    *,
    type_: str | None = None,
    plan_id: uuid.UUID | None = None,
) -> list[Event]:
    """Up to `limit` events after the (txid, id) cursor `after`, in commit order, gap-free: none
    of a transaction that an older one still running might precede."""
    horizon = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    query = select(Event).where(Event.merchant_id == merchant_id, Event.txid < horizon)
    if type_ is not None:
        query = query.where(Event.type == type_)
    if plan_id is not None:
        query = query.where(Event.plan_id == plan_id)
    if after is not None:
        query = query.where(tuple_(Event.txid, Event.id) > tuple_(*after))
    query = query.order_by(Event.txid, Event.id).limit(limit)
    return list((await session.execute(query)).scalars())

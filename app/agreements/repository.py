"""Agreements' statements: the document kept with its plan, and its acceptance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import not_found
from app.models import Agreement


@dataclass(frozen=True, slots=True)
class KeptAgreement:
    id: uuid.UUID
    sha256: bytes


@dataclass(frozen=True, slots=True)
class NewAcceptance:
    merchant_id: uuid.UUID
    plan_id: uuid.UUID
    agreement_id: uuid.UUID
    signer_name: str
    ip_address: str
    user_agent: str
    document_sha256: bytes
    accepted_at: datetime


_AGREEMENT = "SELECT id, sha256 FROM agreements WHERE merchant_id = $1 AND plan_id = $2"
# Nothing is inserted, and no row returned, when the plan's agreement was accepted already.
_ACCEPT = """
    INSERT INTO acceptances (id, merchant_id, plan_id, agreement_id, signer_name, ip_address,
        user_agent, document_sha256, accepted_at)
    VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9)
    ON CONFLICT (plan_id) DO NOTHING
    RETURNING id
"""


async def get(session: AsyncSession, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> Agreement:
    """The plan's agreement; a 404 problem when the merchant has no such plan."""
    row = (
        await session.execute(
            select(Agreement).where(
                Agreement.merchant_id == merchant_id, Agreement.plan_id == plan_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("plan")
    return row


async def kept(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, plan_id: uuid.UUID
) -> KeptAgreement:
    row = await conn.fetchrow(_AGREEMENT, merchant_id, plan_id)
    if row is None:
        raise not_found("plan")
    return KeptAgreement(row["id"], row["sha256"])


async def accept(conn: asyncpg.Connection, new_id: uuid.UUID, acceptance: NewAcceptance) -> bool:
    """Record the acceptance; False, and nothing written, when the plan has one already."""
    a = acceptance
    found = await conn.fetchval(
        _ACCEPT,
        new_id,
        a.merchant_id,
        a.plan_id,
        a.agreement_id,
        a.signer_name,
        a.ip_address,
        a.user_agent,
        a.document_sha256,
        a.accepted_at,
    )
    return found is not None

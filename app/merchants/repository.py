"""Merchants' and API keys' statements (ORM: none of them is busy)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import not_found
from app.models import ApiKey, Merchant


async def add_merchant(session: AsyncSession, name: str) -> Merchant:
    merchant = Merchant(name=name)
    session.add(merchant)
    await session.flush()
    return merchant


async def add_key(
    session: AsyncSession, merchant_id: uuid.UUID, key_hash: bytes, prefix: str
) -> None:
    session.add(ApiKey(merchant_id=merchant_id, key_hash=key_hash, prefix=prefix))
    await session.flush()


async def lock(session: AsyncSession, merchant_id: uuid.UUID) -> Merchant:
    merchant = await session.get(Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        raise not_found("merchant")
    return merchant


async def revoke_keys(session: AsyncSession, merchant_id: uuid.UUID, at: datetime) -> None:
    """Revoke every key of the merchant still in use."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.merchant_id == merchant_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def merchant_for_key(session: AsyncSession, key_hash: bytes) -> uuid.UUID | None:
    row = await session.execute(
        select(ApiKey.merchant_id).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    return row.scalar_one_or_none()

"""Merchants and their API keys. Services flush; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import not_found
from app.models import ApiKey, Merchant
from app.security import hash_api_key, new_api_key, webhook_secret


@dataclass(frozen=True, slots=True)
class Credentials:
    merchant_id: uuid.UUID
    api_key: str
    webhook_secret: str


async def _issue_key(session: AsyncSession, merchant_id: uuid.UUID) -> str:
    key = new_api_key()
    session.add(ApiKey(merchant_id=merchant_id, key_hash=hash_api_key(key), prefix=key[:12]))
    await session.flush()
    return key


async def create_merchant(session: AsyncSession, name: str, server_key: bytes) -> Credentials:
    merchant = Merchant(name=name)
    session.add(merchant)
    await session.flush()
    key = await _issue_key(session, merchant.id)
    secret = webhook_secret(server_key, merchant.id, merchant.webhook_secret_version)
    return Credentials(merchant.id, key, secret)


async def rotate_key(
    session: AsyncSession, merchant_id: uuid.UUID, server_key: bytes
) -> Credentials:
    """Issue a new API key and revoke every older one at once."""
    merchant = await session.get(Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        raise not_found("merchant")
    await session.execute(
        update(ApiKey)
        .where(ApiKey.merchant_id == merchant_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    key = await _issue_key(session, merchant_id)
    secret = webhook_secret(server_key, merchant.id, merchant.webhook_secret_version)
    return Credentials(merchant.id, key, secret)


async def merchant_for_key(session: AsyncSession, key_hash: bytes) -> uuid.UUID | None:
    row = await session.execute(
        select(ApiKey.merchant_id).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    return row.scalar_one_or_none()

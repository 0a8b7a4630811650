"""Merchants and their API keys. Services flush; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.merchants import repository
from app.security import hash_api_key, new_api_key, webhook_secret


@dataclass(frozen=True, slots=True)
class Credentials:
    merchant_id: uuid.UUID
    api_key: str
    webhook_secret: str


async def _issue_key(session: AsyncSession, merchant_id: uuid.UUID) -> str:
    key = new_api_key()
    await repository.add_key(session, merchant_id, hash_api_key(key), key[:12])
    return key


async def create_merchant(session: AsyncSession, name: str, server_key: bytes) -> Credentials:
    merchant = await repository.add_merchant(session, name)
    key = await _issue_key(session, merchant.id)
    secret = webhook_secret(server_key, merchant.id, merchant.webhook_secret_version)
    return Credentials(merchant.id, key, secret)


async def rotate_key(
    session: AsyncSession, merchant_id: uuid.UUID, server_key: bytes
) -> Credentials:
    """Issue a new API key and revoke every older one at once."""
    merchant = await repository.lock(session, merchant_id)
    await repository.revoke_keys(session, merchant_id, datetime.now(UTC))
    key = await _issue_key(session, merchant_id)
    secret = webhook_secret(server_key, merchant.id, merchant.webhook_secret_version)
    return Credentials(merchant.id, key, secret)


async def merchant_for_key(session: AsyncSession, key_hash: bytes) -> uuid.UUID | None:
    return await repository.merchant_for_key(session, key_hash)

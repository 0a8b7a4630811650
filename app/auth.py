"""Bearer API keys: every /v1 route knows its merchant, or answers 401."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cache import TtlCache
from app.errors import Problem
from app.merchants.service import merchant_for_key
from app.security import hash_api_key

_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer bnpl_sk_...`"
)


# API key digest -> merchant: a revoked key keeps working `api_key_cache_seconds` longer.
KeyCache = TtlCache[bytes, uuid.UUID]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"}
    )


class ApiKeyAuth(HTTPBearer):
    """The bearer scheme (so OpenAPI shows it) and the key lookup, in one dependency."""

    async def __call__(self, request: Request) -> uuid.UUID:  # type: ignore[override]
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("Send your API key as `Authorization: Bearer <key>`")
        cache: KeyCache = request.app.state.key_cache
        digest = hash_api_key(key.strip())
        merchant_id = cache.get(digest)
        if merchant_id is None:
            factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
            async with factory() as session:
                merchant_id = await merchant_for_key(session, digest)
            if merchant_id is None:
                raise _unauthorized("That API key is not valid (unknown or revoked)")
            cache.put(digest, merchant_id)
        return merchant_id


_api_key = ApiKeyAuth(description="An API key: `Authorization: Bearer bnpl_sk_...`")
MerchantId = Annotated[uuid.UUID, Depends(_api_key)]

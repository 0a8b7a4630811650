"""Keys and signatures: API keys hashed at rest, webhook secrets derived, never stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

API_KEY_PREFIX = "bnpl_sk_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    # A 256-bit random key needs no slow hash: SHA-256 cannot be reversed or guessed from it.
    return hashlib.sha256(key.encode()).digest()


def _derived_secret(server_key: bytes, purpose: bytes, owner: uuid.UUID, version: int) -> str:
    message = purpose + owner.bytes + version.to_bytes(4, "big")
    digest = hmac.new(server_key, message, hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(digest).decode()


def webhook_secret(server_key: bytes, merchant_id: uuid.UUID, version: int) -> str:
    """The merchant's Standard Webhooks secret: derived, so the database never holds it."""
    return _derived_secret(server_key, b"webhook-secret:", merchant_id, version)


def endpoint_secret(server_key: bytes, endpoint_id: uuid.UUID, version: int) -> str:
    """The secret that signs what we send to one webhook endpoint: derived like the merchant's
    (another purpose, so neither can be computed from the other)."""
    return _derived_secret(server_key, b"endpoint-secret:", endpoint_id, version)

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


def webhook_secret(server_key: bytes, merchant_id: uuid.UUID, version: int) -> str:
    """The merchant's Standard Webhooks secret: derived, so the database never holds it."""
    message = b"webhook-secret:" + merchant_id.bytes + version.to_bytes(4, "big")
    digest = hmac.new(server_key, message, hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(digest).decode()

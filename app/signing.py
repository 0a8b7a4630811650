"""Standard Webhooks signatures, both for what we receive and for what we send.

signature = base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}")), sent as
`webhook-signature: v1,<sig>` (several, space-separated, while a secret rotates).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

from app.security import WEBHOOK_SECRET_PREFIX


class SignatureError(Exception):
    """Why a delivery was refused; the message is safe to show to the sender."""


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header value for a payload (also what tests send)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(secrets: Sequence[str], msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value signed with each secret (two while a secret rotates)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def verify(
    secret: str,
    msg_id: str | None,
    timestamp: str | None,
    signatures: str | None,
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: int,
) -> None:
    """Raise SignatureError unless one of the signatures is ours and the timestamp is fresh."""
    if not msg_id or not timestamp or not signatures:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp must be Unix seconds") from exc
    if abs(now.timestamp() - sent_at) > tolerance_seconds:
        raise SignatureError("webhook-timestamp is outside the tolerance window")
    expected = sign(secret, msg_id, timestamp, body).encode()
    # Compare against every offered signature without stopping early, in constant time each.
    matched = False
    for candidate in signatures.split(" "):
        matched |= hmac.compare_digest(candidate.encode(), expected)
    if not matched:
        raise SignatureError("no valid signature")

"""One POST of one delivery: the address checked where it resolves, at send time, and the
request made to that very address (so a DNS answer cannot change between check and send);
signed with Standard Webhooks headers; bounded in time; nothing followed."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx

from app import clock
from app.cache import TtlCache
from app.config import Settings
from app.security import endpoint_secret
from app.signing import signatures

logger = logging.getLogger("bnpl.outbound")
USER_AGENT = "bnpl-webhooks/1"
RESPONSE_KEPT = 1024
ERROR_KEPT = 500
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# (host, port) -> the addresses it resolved to, for a few seconds: a name is not looked up again
# for each of a burst of deliveries to it.
_resolved: TtlCache[tuple[str, int], list[IpAddress]] = TtlCache(5.0, max_entries=1000)


class Refused(Exception):
    """A URL we will not post to; the message says why, and is safe to show the merchant."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a sender holds the lease of, with what it posts."""

    id: int
    lease_id: uuid.UUID
    merchant_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: int
    attempts: int
    give_up_at: datetime
    url: str
    secret_version: int
    previous_secret_expires_at: datetime | None
    body: str


@dataclass(frozen=True, slots=True)
class Sent:
    """How one attempt went."""

    claimed: Claimed
    attempted_at: datetime
    delivered: bool
    status_code: int | None
    duration_ms: int
    response_body: str | None
    error: str | None


def allowed_schemes(settings: Settings) -> tuple[str, ...]:
    return ("https", "http") if settings.outbound_allow_http else ("https",)


def check_url(url: str, settings: Settings) -> httpx.URL:
    """The URL parsed, if its scheme and (when it is an address) its host may be posted to."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Refused(f"not a URL: {exc}") from exc
    if parsed.scheme not in allowed_schemes(settings):
        raise Refused(f"the URL must start with {' or '.join(allowed_schemes(settings))}://")
    if not parsed.host:
        raise Refused("the URL has no host")
    try:
        literal = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None
    if literal is not None:
        _check_address(literal, settings)
    return parsed


def _check_address(address: IpAddress, settings: Settings) -> None:
    if settings.outbound_allow_private_addresses:
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        raise Refused(f"{address} is not a public address")


async def resolve(url: httpx.URL, settings: Settings) -> IpAddress:
    """The address to connect to: every address the host resolves to must be allowed. An
    answer is reused for a few seconds (the check is not: it runs on every send)."""
    try:
        addresses = [ipaddress.ip_address(url.host)]
    except ValueError:
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = _resolved.get((url.host, port)) or []
        if not addresses:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise Refused(f"cannot resolve {url.host}: {exc}") from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
            if not addresses:
                raise Refused(f"{url.host} resolves to no address") from None
            _resolved.put((url.host, port), addresses)
    for address in addresses:
        _check_address(address, settings)
    return addresses[0]


def secrets_for(claimed: Claimed, server_key: bytes, now: datetime) -> list[str]:
    """The current secret, and the previous one while it still signs (after a rotation)."""
    versions = [claimed.secret_version]
    expires = claimed.previous_secret_expires_at
    if expires is not None and now < expires and claimed.secret_version > 1:
        versions.append(claimed.secret_version - 1)
    return [endpoint_secret(server_key, claimed.endpoint_id, v) for v in versions]


def signed_headers(event_id: int, secrets: list[str], body: bytes) -> dict[str, str]:
    msg_id = f"evt_{event_id}"
    # Wall time, not the business clock: the receiver checks it against its own clock.
    timestamp = str(int(time.time()))
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signatures(secrets, msg_id, timestamp, body),
    }


def new_client(settings: Settings) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=settings.outbound_concurrency,
        max_keepalive_connections=settings.outbound_concurrency,
    )
    return httpx.AsyncClient(
        timeout=settings.outbound_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=limits,
    )


async def send(
    client: httpx.AsyncClient, claimed: Claimed, settings: Settings, server_key: bytes
) -> Sent:
    """Post the delivery once and say how it went; never raises for what the endpoint does."""
    attempted_at = clock.now()
    started = time.perf_counter()
    status: int | None = None
    head = b""
    error: str | None = None
    try:
        async with asyncio.timeout(settings.outbound_timeout_seconds):
            status, head = await _post(client, claimed, settings, server_key, attempted_at)
    except Refused as exc:
        error = f"refused: {exc}"
    except TimeoutError:
        error = f"timed out after {settings.outbound_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        # Recorded as a failed attempt like any other, rather than left to its lease.
        logger.exception("unexpected error posting delivery %s", claimed.id)
        error = f"unexpected error: {type(exc).__name__}"
    duration_ms = round((time.perf_counter() - started) * 1000)
    text = head[:RESPONSE_KEPT].decode("utf-8", "replace").replace("\x00", "\ufffd")
    return Sent(
        claimed,
        attempted_at,
        delivered=status is not None and 200 <= status < 300,
        status_code=status,
        duration_ms=duration_ms,
        response_body=text if status is not None else None,
        error=error[:ERROR_KEPT].replace("\x00", "\ufffd") if error else None,
    )


async def _post(
    client: httpx.AsyncClient,
    claimed: Claimed,
    settings: Settings,
    server_key: bytes,
    now: datetime,
) -> tuple[int, bytes]:
    url = check_url(claimed.url, settings)
    address = await resolve(url, settings)
    body = claimed.body.encode()
    headers = signed_headers(claimed.event_id, secrets_for(claimed, server_key, now), body)
    headers["host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    request = client.build_request(
        "POST",
        url.copy_with(host=str(address)),
        content=body,
        headers=headers,
        extensions=extensions,
    )
    response = await client.send(request, stream=True)
    try:
        head = b""
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= RESPONSE_KEPT:
                break
    finally:
        await response.aclose()
    return response.status_code, head

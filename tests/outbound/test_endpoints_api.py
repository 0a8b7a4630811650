"""The endpoints API: the secret shown once (and never at rest), validation, pagination and
tenant isolation; the OpenAPI webhooks section."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.outbound.catalog import EVENT_TYPES
from app.outbound.sender import Refused, check_url
from app.security import endpoint_secret
from tests.factories import Tenant
from tests.outbound.conftest import Register

URL = "https://shop.example/hooks"


async def test_create_shows_the_secret_once_and_stores_it_nowhere(
    tenant: Tenant, engine: AsyncEngine, settings: Settings
) -> None:
    body = {"url": URL, "event_types": ["plan.created", "*"], "description": "back office"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await tenant.client.post("/v1/webhook-endpoints", json=body, headers=key)
    assert first.status_code == 201, first.text
    created = first.json()
    endpoint_id = uuid.UUID(created["id"])
    assert created["secret"] == endpoint_secret(settings.server_key(), endpoint_id, 1)
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["plan.created", "*"]
    assert created["enabled"] is True
    replay = await tenant.client.post("/v1/webhook-endpoints", json=body, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created
    shown = (await tenant.client.get(f"/v1/webhook-endpoints/{endpoint_id}")).json()
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT response_body FROM idempotency_keys WHERE key = :k"),
                {"k": key["Idempotency-Key"]},
            )
        ).scalar_one()
    assert created["secret"].encode() not in stored
    await tenant.client.delete(f"/v1/webhook-endpoints/{endpoint_id}")


async def test_unknown_event_types_are_a_422_naming_the_known_ones(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/v1/webhook-endpoints",
        json={"url": URL, "event_types": ["plan.created", "plan.exploded"]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 422
    [problem] = response.json()["errors"]
    assert problem["pointer"] == "/event_types"
    assert "plan.exploded" in problem["detail"]
    assert all(name in problem["detail"] for name in EVENT_TYPES)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://shop.example/x",
        "http://shop.example/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "not a url",
    ],
)
def test_refused_urls(url: str, settings: Settings) -> None:
    strict = settings.model_copy(
        update={"outbound_allow_http": False, "outbound_allow_private_addresses": False}
    )
    with pytest.raises(Refused):
        check_url(url, strict)


def test_allowed_urls(settings: Settings) -> None:
    strict = settings.model_copy(
        update={"outbound_allow_http": False, "outbound_allow_private_addresses": False}
    )
    assert check_url("https://shop.example/hooks?x=1", strict).host == "shop.example"
    assert check_url("https://93.184.216.34/hooks", strict).host == "93.184.216.34"
    assert check_url("http://127.0.0.1:9/x", settings).port == 9  # tests allow both


async def test_update_list_and_delete(tenant: Tenant, register: Register) -> None:
    made = [await register(tenant.client, f"{URL}/{n}") for n in range(3)]
    page = (await tenant.client.get("/v1/webhook-endpoints", params={"limit": 2})).json()
    assert [e["id"] for e in page["data"]] == [made[2]["id"], made[1]["id"]]
    rest = await tenant.client.get(
        "/v1/webhook-endpoints", params={"limit": 2, "after": page["next_cursor"]}
    )
    assert [e["id"] for e in rest.json()["data"]] == [made[0]["id"]]
    assert rest.json()["next_cursor"] is None

    path = f"/v1/webhook-endpoints/{made[0]['id']}"
    changed = await tenant.client.patch(
        path, json={"event_types": ["payment.applied"], "enabled": False, "description": "x"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["payment.applied"]
    assert changed.json()["enabled"] is False
    assert changed.json()["disabled_reason"] == "disabled by the merchant"
    assert changed.json()["url"] == f"{URL}/0"
    bad = await tenant.client.patch(path, json={"url": "ftp://x.example"})
    assert bad.status_code == 422
    assert (await tenant.client.delete(path)).status_code == 204
    assert (await tenant.client.get(path)).status_code == 404
    assert (await tenant.client.delete(path)).status_code == 404


async def test_another_merchants_endpoint_is_not_found(
    tenant: Tenant, other_tenant: Tenant, register: Register
) -> None:
    theirs = await register(other_tenant.client, URL)
    path = f"/v1/webhook-endpoints/{theirs['id']}"
    ping = await other_tenant.client.post(path + "/test")
    their_event = ping.json()["event_id"]
    client = tenant.client
    answers = [
        await client.get(path),
        await client.patch(path, json={"enabled": False}),
        await client.delete(path),
        await client.post(path + "/rotate-secret"),
        await client.get(path + "/deliveries"),
        await client.post(path + "/test"),
        await client.post(path + "/recover", json={"since": "2026-11-01T00:00:00Z"}),
        await client.post(f"/v1/events/{their_event}/redeliver"),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}
    assert [e["id"] for e in (await client.get("/v1/webhook-endpoints")).json()["data"]] == []
    still = await other_tenant.client.get(path)
    assert still.json()["enabled"] is True
    assert still.json()["secret_version"] == 1
    feed = (await other_tenant.client.get("/v1/events")).json()["data"]
    assert [e["id"] for e in feed] == [their_event]  # the other's test ping, nothing of ours


async def test_bad_ids_are_4xx(tenant: Tenant) -> None:
    assert (await tenant.client.get("/v1/webhook-endpoints/nope")).status_code == 422
    assert (await tenant.client.post(f"/v1/events/{2**63}/redeliver")).status_code == 422
    bad_cursor = await tenant.client.get(
        f"/v1/webhook-endpoints/{uuid.uuid4()}/deliveries", params={"after": "zz"}
    )
    assert bad_cursor.status_code in (404, 422)


async def test_openapi_describes_every_event_type(client: httpx.AsyncClient) -> None:
    webhooks: dict[str, Any] = (await client.get("/openapi.json")).json()["webhooks"]
    assert set(webhooks) == set(EVENT_TYPES)
    for name, operation in webhooks.items():
        content = operation["post"]["requestBody"]["content"]["application/json"]
        assert content["example"]["type"] == name
        assert content["schema"] == {"$ref": "#/components/schemas/WebhookPayload"}

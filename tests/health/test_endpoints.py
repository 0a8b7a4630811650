from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.migrate import head_revision


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_head_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "revision": head_revision()}


async def test_readyz_is_503_when_migrations_lag(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        real = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        await conn.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
    try:
        response = await client.get("/readyz")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": real})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "behind" in response.json()["detail"]


async def test_openapi_has_an_example_on_every_schema(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    missing = [
        name
        for name, schema in spec["components"]["schemas"].items()
        if "example" not in schema
        and "examples" not in schema
        and "enum" not in schema
        and name not in {"HTTPValidationError", "ValidationError"}
    ]
    assert missing == []


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import Problem, problem_responses
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={
        200: {
            "content": {"application/json": {"example": {"status": "ready", "revision": "0001"}}}
        },
        **problem_responses(503),
    },
)
async def readyz(request: Request) -> JSONResponse:
    db_engine: AsyncEngine = request.app.state.engine
    try:
        current = await current_revision(db_engine)
    except Exception as exc:
        raise Problem(503, "not-ready", "Not ready", "The database is not reachable") from exc
    head = head_revision()
    if current != head:
        raise Problem(
            503, "not-ready", "Not ready", f"Database at revision {current}, code expects {head}"
        )
    body: dict[str, Any] = {"status": "ready", "revision": current}
    return JSONResponse(body)

"""One error type, one handler, one shape: RFC 9457 problem details."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
UNION_TAG = "~"
logger = logging.getLogger("bnpl.errors")


class FieldProblem(BaseModel):
    """One problem with one input: `pointer` (a JSON Pointer into the body) or `parameter`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "pointer": "/deposit/percent",
                "detail": "Input should be less than 100",
                "code": "less_than",
            }
        }
    )

    detail: str
    code: str
    pointer: str | None = None
    parameter: str | None = None


class ProblemDetail(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": PROBLEM_BASE + "validation-error",
                "title": "Your request is not valid",
                "status": 422,
                "detail": "1 field is not valid",
                "errors": [
                    {
                        "pointer": "/currency",
                        "detail": "Unknown currency 'XYZ'",
                        "code": "unknown_currency",
                    }
                ],
            }
        },
    )

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)


class Problem(Exception):
    """Raise anywhere; the handler turns it into application/problem+json with its status."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.model_dump(exclude_none=True) for e in self.errors]
        body.update(self.extensions)
        return body


def field_problem(field: str, detail: str, code: str) -> FieldProblem:
    """A problem with one body field, as a dotted path ('deposit.percent', 'payments.2.date')."""
    pointer = "/" + "/".join(field.split(".")) if field else ""
    return FieldProblem(pointer=pointer, detail=detail, code=code)


def validation_problem(errors: Sequence[FieldProblem]) -> Problem:
    count = len(errors)
    return Problem(
        422,
        "validation-error",
        "Your request is not valid",
        f"{count} field{'s are' if count != 1 else ' is'} not valid",
        errors=errors,
    )


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"No {what} with that id")


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def _pydantic_field_problems(raw: Iterable[dict[str, Any]]) -> list[FieldProblem]:
    problems = []
    for err in raw:
        where, *path = err.get("loc", ()) or ("body",)
        # Branches of a tagged union are named "~name": they say which shape, not where.
        path = [p for p in path if not (isinstance(p, str) and p.startswith(UNION_TAG))]
        detail = str(err.get("msg", "Invalid value"))
        code = str(err.get("type", "invalid"))
        if where == "body":
            pointer = "/" + "/".join(str(p) for p in path) if path else ""
            problems.append(FieldProblem(pointer=pointer, detail=detail, code=code))
        else:
            name = ".".join(str(p) for p in path) or str(where)
            problems.append(FieldProblem(parameter=name, detail=f"{where}: {detail}", code=code))
    return problems


def invalid_document(exc: ValidationError) -> Problem:
    """A pydantic error raised while validating a merged or stored document (not the request)."""
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    return validation_problem(_pydantic_field_problems(errors))


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        err = raw[0]
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        position = err.get("loc", ("body", 0))[-1]
        return problem_response(
            Problem(400, "malformed-json", "Malformed JSON", f"{reason} at position {position}")
        )
    return problem_response(validation_problem(_pydantic_field_problems(raw)))


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    slug = phrase.lower().replace(" ", "-").replace("'", "")
    return problem_response(Problem(status, slug, phrase, detail, headers=exc.headers))


# Contention, not a fault: a lock not had within lock_timeout, or a deadlock PostgreSQL broke (or,
# PoolTimeout, no pooled connection free within the pool's timeout).
_RETRYABLE_SQLSTATES = {"55P03", "40P01", "40001"}
# A NUL character (U+0000) anywhere in a text or jsonb value: no validation rule names it, and
# PostgreSQL refuses it; the request's transaction is rolled back, so nothing is stored.
_UNSTORABLE_TEXT_SQLSTATES = {"22P05", "22021"}


def _database_problem(exc: Exception) -> Problem | None:
    """The problem a database error means for the client, if it is the client's to act on."""
    # asyncpg's own errors carry `sqlstate`; SQLAlchemy's wrap them in `orig`.
    sqlstate = getattr(exc, "sqlstate", None) or getattr(
        getattr(exc, "orig", None), "sqlstate", None
    )
    if sqlstate in _UNSTORABLE_TEXT_SQLSTATES:
        return Problem(
            422,
            "unstorable-text",
            "Text that cannot be stored",
            "A string holds a character PostgreSQL cannot store (NUL, \\u0000); remove it",
        )
    if sqlstate in _RETRYABLE_SQLSTATES or isinstance(exc, PoolTimeout):
        return Problem(
            503,
            "busy",
            "Busy, try again",
            "The objects this request needs are busy; retry it (with the same Idempotency-Key)",
            headers={"Retry-After": "1"},
        )
    return None


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        Problem(500, "internal-error", "Internal Server Error", "Something went wrong on our side")
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Registered for the database's exception types, so an answer that is the client's (4xx,
    # 503) is not also re-raised and logged as a server fault, as the catch-all would.
    problem = _database_problem(exc)
    return _internal_error(request, exc) if problem is None else problem_response(problem)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _internal_error(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(asyncpg.PostgresError, _on_database_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: every problem it may answer, so OpenAPI shows them."""
    return {
        status: {
            "model": ProblemDetail,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
            "description": HTTPStatus(status).phrase,
        }
        for status in sorted({*statuses, 400, 422})
    }

"""Cursor pagination: `limit` and `after`; a cursor is the opaque id of the last item seen."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from app.errors import FieldProblem, validation_problem

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    after: str | None


def _page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many items.")] = 20,
    after: Annotated[
        str | None,
        Query(max_length=64, description="The `next_cursor` of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit, after)


Page = Annotated[PageParams, Depends(_page_params)]


def encode_cursor(value: uuid.UUID | int) -> str:
    raw = value.bytes if isinstance(value, uuid.UUID) else value.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor() from exc


def _bad_cursor() -> Exception:
    return validation_problem(
        [FieldProblem(parameter="after", detail="Not a cursor this API gave", code="bad_cursor")]
    )


def uuid_cursor(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    raw = _decode(cursor)
    if len(raw) != 16:
        raise _bad_cursor()
    return uuid.UUID(bytes=raw)


def int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    raw = _decode(cursor)
    if len(raw) != 8:
        raise _bad_cursor()
    return int.from_bytes(raw, "big")


def next_cursor(rows: Sequence[T], limit: int, key: uuid.UUID | int | None) -> str | None:
    """Call with limit + 1 rows fetched: a cursor only when there is more."""
    return encode_cursor(key) if len(rows) > limit and key is not None else None


def encode_pair(first: int, second: int) -> str:
    raw = first.to_bytes(8, "big") + second.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def pair_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    raw = _decode(cursor)
    if len(raw) != 16:
        raise _bad_cursor()
    return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")

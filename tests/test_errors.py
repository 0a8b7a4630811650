"""Which database errors are the client's to retry (a 503 with Retry-After) and which are ours."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.errors import _database_problem


@pytest.mark.parametrize(
    "error",
    [
        PoolTimeout("QueuePool limit of size 30 overflow 0 reached, connection timed out"),
        asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
    ],
)
def test_contention_is_a_503_to_retry(error: Exception) -> None:
    problem = _database_problem(error)
    assert problem is not None
    assert problem.status == 503
    assert problem.headers == {"Retry-After": "1"}


def test_other_database_errors_are_ours() -> None:
    assert _database_problem(asyncpg.UndefinedTableError("relation does not exist")) is None

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.outbound.retries import LADDER, RETRY_WINDOW, THEN_EVERY, next_attempt_at, wait_after

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
GIVE_UP = NOW + RETRY_WINDOW


def test_the_ladder_then_every_twelve_hours() -> None:
    waits = [wait_after(n) for n in range(1, 11)]
    assert waits[:7] == list(LADDER)
    assert waits[:3] == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)]
    assert waits[7:] == [THEN_EVERY] * 3 == [timedelta(hours=12)] * 3


@pytest.mark.parametrize("jitter", [-1.0, 0.0, 1.0])
def test_jitter_spreads_a_wait_by_a_fifth(jitter: float) -> None:
    at = next_attempt_at(2, NOW, GIVE_UP, jitter)
    assert at == NOW + timedelta(minutes=5) * (1 + 0.2 * jitter)


def test_random_jitter_stays_within_the_spread() -> None:
    for _ in range(200):
        at = next_attempt_at(4, NOW, GIVE_UP)
        assert at is not None
        assert NOW + timedelta(hours=1.6) <= at <= NOW + timedelta(hours=2.4)


def test_the_last_attempt_is_when_the_window_closes_then_it_gives_up() -> None:
    late = GIVE_UP - timedelta(hours=1)
    assert next_attempt_at(11, late, GIVE_UP, 0.0) == GIVE_UP
    assert next_attempt_at(12, GIVE_UP, GIVE_UP, 0.0) is None
    assert next_attempt_at(3, GIVE_UP + timedelta(seconds=1), GIVE_UP, 0.0) is None

"""`bnpl sweep` as an operator runs it, and the full sweep loop (every open plan)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import clock
from app.config import Settings, usable_cpus
from app.db import connect
from app.delinquency.repository import left_to_sweep
from app.delinquency.sweep import concurrency_for, sweep
from app.models import IdempotencyKey
from app.worker import one_pass
from tests.factories import Tenant, create_plan, create_product, run_bnpl


async def test_full_sweep_reaches_every_open_plan_and_is_idempotent(
    tenant: Tenant, app: FastAPI
) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    plan = await create_plan(tenant.client, product, start_date="2026-11-23")
    first = await sweep(app.state.engine, date(2027, 6, 1), batch_size=7)
    assert first.plans >= 1
    assert first.left_behind == 0
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert body["delinquency"]["state"] == "default"
    again = await sweep(app.state.engine, date(2027, 6, 1), batch_size=7)
    assert (again.plans, again.late_fees, again.reminders) == (0, 0, 0)


def test_sweep_command_prints_progress_and_counts(database_url: str) -> None:
    result = run_bnpl(database_url, "sweep", "--as-of", "2027-07-01")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("swept as of 2027-07-01: ")
    assert "late fees" in result.stdout
    bad = run_bnpl(database_url, "sweep", "--as-of", "2027-02-30", timeout=60)
    assert bad.returncode == 2
    assert "as-of" in bad.stderr


async def test_concurrent_batches_sweep_every_plan_once(tenant: Tenant, app: FastAPI) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    for n in range(6):
        await create_plan(tenant.client, product, start_date="2026-11-23", customer_id=f"cus_{n}")
    as_of = date(2027, 5, 1)
    async with connect(app.state.engine) as conn:
        due = await left_to_sweep(conn, as_of)
    report = await sweep(app.state.engine, as_of, batch_size=2, concurrency=4)
    assert due >= 6
    assert (report.plans, report.left_behind) == (due, 0)
    assert report.batches >= due / 2
    async with connect(app.state.engine) as conn:
        left = await left_to_sweep(conn, as_of)
        assert left == 0


def test_sweep_concurrency_is_the_setting_else_the_cores_within_the_pool(
    settings: Settings,
) -> None:
    unset = settings.model_copy(update={"sweep_concurrency": None, "db_pool_size": 30})
    assert concurrency_for(unset) == usable_cpus()
    assert concurrency_for(unset.model_copy(update={"sweep_concurrency": 6})) == 6
    small_pool = unset.model_copy(update={"sweep_concurrency": 6, "db_pool_size": 4})
    assert concurrency_for(small_pool) == 4
    assert concurrency_for(unset, 3) == 3  # --concurrency
    assert concurrency_for(small_pool, 9) == 4


async def test_a_worker_pass_sweeps_for_today_and_deletes_expired_keys(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(tenant.client, deposit={"min_percent": "0", "max_percent": "50"})
    plan = await create_plan(tenant.client, product, start_date="2026-11-23")
    today = datetime(2027, 8, 2, 12, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: today)
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with factory() as session, session.begin():
        for key, expires in (("expired", today - timedelta(seconds=1)), ("kept", today)):
            session.add(
                IdempotencyKey(
                    merchant_id=tenant.id,
                    key=f"worker-{key}",
                    request_hash=bytes(32),
                    response_status=201,
                    response_body=b"{}",
                    expires_at=expires,
                )
            )
    line = await one_pass(app.state.engine, concurrency=2)
    assert line.startswith("as of 2027-08-02: ")
    # This tenant's plan and product keys expired too, and other tests'.
    assert re.search(r"; [1-9][0-9]* expired idempotency keys deleted$", line)
    body = (await tenant.client.get(f"/v1/plans/{plan['id']}")).json()
    assert body["delinquency"]["state"] == "default"
    async with factory() as session:
        keys = select(IdempotencyKey.key).where(IdempotencyKey.merchant_id == tenant.id)
        assert set((await session.execute(keys)).scalars()) == {"worker-kept"}


def test_worker_command_runs_one_pass(database_url: str) -> None:
    result = run_bnpl(database_url, "worker", "--once", BNPL_SWEEP_CONCURRENCY="2")
    assert result.returncode == 0, result.stderr
    assert "bnpl.worker pass done: as of " in result.stderr
    assert "expired idempotency keys deleted" in result.stderr

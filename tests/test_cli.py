"""The `bnpl` command, run as a user would, against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import client_for, run_bnpl


async def _quote(app: FastAPI, api_key: str) -> httpx.Response:
    body: dict[str, Any] = {
        "amount": 10000,
        "currency": "USD",
        "start_date": "2026-12-01",
        "installments": 4,
        "frequency": "weekly",
    }
    async with client_for(app, api_key) as client:
        return await client.post("/v1/quotes", json=body)


async def test_merchants_create_and_rotate_key(app: FastAPI, database_url: str) -> None:
    created = run_bnpl(database_url, "merchants", "create", "--name", "CLI shop")
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    assert set(creds) == {"merchant_id", "api_key", "webhook_secret"}
    assert creds["api_key"].startswith("bnpl_sk_")
    assert creds["webhook_secret"].startswith("whsec_")
    assert (await _quote(app, creds["api_key"])).status_code == 200

    rotated = run_bnpl(
        database_url, "merchants", "rotate-key", "--merchant-id", creds["merchant_id"]
    )
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["merchant_id"] == creds["merchant_id"]
    assert new["api_key"] != creds["api_key"]
    assert new["webhook_secret"] == creds["webhook_secret"]
    assert (await _quote(app, new["api_key"])).status_code == 200
    assert (await _quote(app, creds["api_key"])).status_code == 401


def test_rotate_key_of_unknown_merchant(database_url: str) -> None:
    result = run_bnpl(
        database_url,
        "merchants",
        "rotate-key",
        "--merchant-id",
        "01a2067f-0000-7000-8000-000000000000",
    )
    assert result.returncode == 1
    assert "No merchant" in result.stderr


def test_unknown_setting_is_refused(database_url: str) -> None:
    env_typo = {**os.environ, "DATABASE_URL": database_url, "BNPL_DATABSE_URL": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env_typo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BNPL_DATABSE_URL" in result.stderr


def test_migrate_reports_the_revision(database_url: str) -> None:
    result = run_bnpl(database_url, "migrate")
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout

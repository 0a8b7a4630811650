"""`bnpl serve`: how many worker processes, the database check before serving, and a real run."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings, usable_cpus
from app.serve import _check_connections, _prepare, connections_needed, worker_count
from tests.factories import bnpl_env

CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", CPUS),  # no quota
        ("100000 100000\n", 1),
        ("150000 100000\n", min(CPUS, 2)),  # 1.5 cores: rounded up
        ("6400000 100000\n", CPUS),  # a quota above the cores we may run on
        ("50000 100000\n", 1),
        ("nonsense\n", CPUS),
        (None, CPUS),  # no cgroup v2 file
    ],
)
def test_usable_cpus_follow_affinity_and_the_container_quota(
    tmp_path: Path, cpu_max: str | None, expected: int
) -> None:
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert usable_cpus(path) == expected


def test_worker_count_takes_the_flag_then_the_setting_then_the_cores(settings: Settings) -> None:
    unset = settings.model_copy(
        update={"http_workers": None, "db_pool_size": 20, "db_max_overflow": 10}
    )
    assert worker_count(unset) == usable_cpus()
    assert worker_count(unset, connection_limit=1000) == usable_cpus()
    # One per core, but only as many as the database has connections for (30 each):
    assert worker_count(unset, connection_limit=30) == 1
    assert worker_count(unset, connection_limit=10) == 1
    assert worker_count(unset, connection_limit=60) == min(usable_cpus(), 2)
    three = settings.model_copy(update={"http_workers": 3})
    assert worker_count(three, connection_limit=10) == 3  # asked for: warned about, not changed
    assert worker_count(three, 5) == 5


def test_workers_setting_reads_web_concurrency_and_refuses_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert Settings().http_workers == 3
    monkeypatch.setenv("BNPL_HTTP_WORKERS", "4")
    assert Settings().http_workers == 4
    monkeypatch.setenv("BNPL_HTTP_WORKERS", "0")
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Settings()


async def test_pools_beyond_the_connection_limit_are_warned_about(
    database_url: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limit = await _prepare(database_url, settings)
    assert limit > 0
    big = settings.model_copy(update={"db_pool_size": 200, "db_max_overflow": 0})
    assert connections_needed(big, 4) == 800
    with caplog.at_level(logging.WARNING, logger="bnpl.serve"):
        _check_connections(settings, 1, limit)
        assert not caplog.records
        _check_connections(big, 4, limit)
    (record,) = caplog.records
    assert "4 workers x (BNPL_DB_POOL_SIZE 200 + BNPL_DB_MAX_OVERFLOW 0) = 800" in record.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_runs_its_workers_and_stops_them(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = bnpl_env(database_url, BNPL_DATA_DIR=str(tmp_path))
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", f"--port={port}", "--workers=2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2 or not _ready(port):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
            startups = re.findall(r"Started server process \[(\d+)\]", log_path.read_text())
            workers = {int(pid) for pid in startups}
        assert "with 2 worker process(es)" in log_path.read_text()
        assert all(_alive(pid) for pid in workers)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        assert not any(_alive(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

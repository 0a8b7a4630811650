"""Settings: one class, read from the environment, refusing unknown BNPL_* keys."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BNPL_"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_PLACEHOLDERS = ("changeme", "change-me", "secret", "xxx", "placeholder", "todo")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "BNPL_DATABASE_URL"),
        description="PostgreSQL URL; unset starts an embedded server under data_dir.",
    )
    data_dir: Path = Path(".bnpl-data")
    database_name: str = "bnpl"
    migrate_on_start: bool = True
    http_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        validation_alias=AliasChoices("BNPL_HTTP_WORKERS", "WEB_CONCURRENCY"),
        description="Processes `bnpl serve` runs; unset: one per core this process may use.",
    )
    sweep_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Batches a sweep runs at once; unset: one per core this process may use.",
    )
    # Connections beyond the pool (overflow) are closed when given back, so a steady load above
    # the pool opens a connection, a new PostgreSQL backend, for nearly every request: under 32
    # concurrent requests a pool of 20 + 10 doubled PostgreSQL's CPU a plan and put p99 at
    # ~400 ms. So the pool is the whole budget, kept open once opened, and overflow is 0.
    db_pool_size: int = Field(default=30, ge=1, le=500)
    db_max_overflow: int = Field(default=0, ge=0, le=500)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    idempotency_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    log_level: str = "info"
    # Outbound webhooks (app.outbound). Loopback and private addresses are refused by default,
    # checked on the address each send resolves to; tests and local development allow them.
    outbound_allow_http: bool = False
    outbound_allow_private_addresses: bool = False
    outbound_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    outbound_concurrency: int = Field(
        default=32, ge=1, le=512, description="Deliveries a worker posts at once."
    )
    outbound_poll_seconds: float = Field(
        default=0.2, gt=0, le=60, description="How often an idle sender looks for new events."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server key that derives webhook secrets and signs cursors. Required in "
        "production; in development one is made and kept under data_dir.",
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_environment(cls, data: Any) -> Any:
        known = {ENV_PREFIX + name.upper() for name in cls.model_fields}
        unknown = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k not in known)
        if unknown:
            raise ValueError(f"unknown settings in the environment: {', '.join(unknown)}")
        return data

    @model_validator(mode="after")
    def _production_needs_a_database(self) -> Settings:
        if self.env is Environment.PRODUCTION and not self.database_url:
            raise ValueError("DATABASE_URL must be set in production (no embedded server)")
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key) < 32 or key.lower().startswith(_PLACEHOLDERS):
                raise ValueError("BNPL_SECRET_KEY must be a random string of 32+ characters")
        return self

    def server_key(self) -> bytes:
        """The secret key, or in development the one kept in data_dir (made on first use)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _development_key(self.data_dir.resolve())

    @property
    def async_database_url(self) -> str | None:
        return to_asyncpg_url(self.database_url) if self.database_url else None


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, bounded by a container's CPU quota
    (cgroup v2 `cpu.max`, "quota period", rounded up) when one is set."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = cpus or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return count
    if quota == "max":
        return count
    try:
        return max(1, min(count, math.ceil(int(quota) / int(period))))
    except (ValueError, ZeroDivisionError):
        return count


def to_asyncpg_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and pick asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


@lru_cache
def _development_key(data_dir: Path) -> bytes:
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    for _ in range(100):  # the process that made it may not have written it yet
        if key := path.read_text().strip():
            return key.encode()
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it and start again")


@lru_cache
def get_settings() -> Settings:
    return Settings()

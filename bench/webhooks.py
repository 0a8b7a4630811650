"""Outbound webhook delivery: deliveries/s by `bnpl deliver` against a bare httpx loop, and the
delay from an event's commit to its arrival.

Run from the repository root:  .venv/bin/python bench/webhooks.py   (about 1 min; --help)

Set-up: a throwaway embedded PostgreSQL (or DATABASE_URL), migrated; a merchant with one
endpoint subscribed to every event type; a receiver (bench/_receiver_app.py, a bare ASGI app
under uvicorn with the other benchmarks' settings) on 127.0.0.1 that answers 204 at once.

(a) Throughput. `bnpl deliver` processes (1, then 2) are started and left idle, then --events
    events (5,000; over 1,000 plans, two or more each, so per-plan ordering is at work) are
    committed in one transaction, as the service writes them (INSERT INTO events); the run
    lasts until the receiver has them all: deliveries/s = events / (last arrival - commit),
    which counts the fan-out (a delivery row per event), the claims under lease, the signing,
    the POSTs and the recording of every attempt. Against it, in the same run (before and
    after the senders; the better of the two counts), a bare loop in this process: one
    httpx.AsyncClient with as many requests in flight as a sender has
    (BNPL_OUTBOUND_CONCURRENCY, 32), posting as many payloads of the same shape, each signed
    with Standard Webhooks headers as the senders do, to the same receiver. The ratio
    senders/bare is the figure to track (goal >= 0.7).

(b) Latency. One `bnpl deliver`; events are committed one per transaction at a steady --rate
    (100/s) for --duration seconds (10); each event's delay is its first arrival at the
    receiver minus the moment its commit returned: p50 and p99. A sender looks for new events
    every BNPL_OUTBOUND_POLL_SECONDS (0.2 s) when idle, and an event shows only once every
    older transaction has ended (the feed's gap-free horizon), so expect about half the poll
    interval at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
from _load import (
    BENCH_DIR,
    HOST,
    LoadError,
    asyncpg_connect_kwargs,
    bench_database_env,
    bench_main,
    http_call,
    run_async,
    server_database_url,
    uvicorn_server,
    wait_ready,
)

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.merchants.service import create_merchant
from app.migrate import upgrade
from app.outbound.sender import signed_headers
from app.security import endpoint_secret

RATIO_GOAL = 0.7
PLANS = 1000
CONCURRENCY = Settings().outbound_concurrency
_INSERT = """
INSERT INTO events (merchant_id, plan_id, type, data)
SELECT $1, p, 'payment.applied', $3::jsonb FROM unnest($2::uuid[]) AS p
RETURNING id
"""
_DATA = json.dumps(
    {"payment_id": "pay_3QxT1a", "amount": 10000, "currency": "USD", "applied": 10000, "credit": 0}
)


def setup(url: str, receiver_port: int) -> tuple[uuid.UUID, uuid.UUID]:
    """Migrate, then make a merchant and its endpoint: their ids."""
    from app.models import uuid7

    settings = Settings(outbound_allow_http=True, outbound_allow_private_addresses=True)

    async def run() -> tuple[uuid.UUID, uuid.UUID]:
        import asyncpg

        engine = create_engine(url, settings)
        try:
            await upgrade(engine)
            async with create_sessionmaker(engine)() as session, session.begin():
                merchant = await create_merchant(session, "bench webhooks", b"bench-key")
        finally:
            await engine.dispose()
        endpoint_id = uuid7()
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
        try:
            await conn.execute(
                "INSERT INTO webhook_endpoints (id, merchant_id, url, event_types, cursor_txid,"
                " cursor_event_id) VALUES ($1, $2, $3, '{*}',"
                " pg_snapshot_xmin(pg_current_snapshot())::text::bigint, 0)",
                endpoint_id,
                merchant.merchant_id,
                f"http://{HOST}:{receiver_port}/hooks",
            )
        finally:
            await conn.close()
        return merchant.merchant_id, endpoint_id

    return run_async(run)


@contextlib.contextmanager
def senders(env: Mapping[str, str], url: str, count: int) -> Iterator[None]:
    """`count` processes of `bnpl deliver`, given time to start; stopped by SIGTERM after."""
    full = {
        **env,
        "DATABASE_URL": url,
        "BNPL_OUTBOUND_ALLOW_HTTP": "true",
        "BNPL_OUTBOUND_ALLOW_PRIVATE_ADDRESSES": "true",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "deliver"],
            env=full,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        time.sleep(3)  # imports, a pool, a first look at an empty events table
        for process in processes:
            if process.poll() is not None:
                raise LoadError(f"bnpl deliver exited with {process.returncode}")
        yield
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def receiver_stats(port: int) -> dict[str, Any]:
    status, body = http_call(port, "GET", "/stats")
    if status != 200:
        raise LoadError(f"receiver /stats answered {status}")
    stats: dict[str, Any] = json.loads(body)
    return stats


def reset(port: int) -> None:
    http_call(port, "DELETE", "/")


def wait_for(port: int, count: int, timeout: float = 300) -> float:
    """Wait until the receiver has had `count` POSTs; when the last came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = receiver_stats(port)
        if stats["count"] >= count:
            return float(stats["last"])
        time.sleep(0.05)
    raise LoadError(
        f"the receiver had {receiver_stats(port)['count']} of {count} after {timeout} s"
    )


def commit_events(url: str, merchant_id: uuid.UUID, count: int) -> float:
    """`count` events in one transaction; when the commit returned."""

    async def run() -> float:
        import asyncpg

        conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
        try:
            plans = [uuid.uuid4() for _ in range(PLANS)]
            await conn.fetch(_INSERT, merchant_id, [plans[n % PLANS] for n in range(count)], _DATA)
            return time.time()
        finally:
            await conn.close()

    return run_async(run)


def throughput(
    url: str, env: Mapping[str, str], port: int, merchant: uuid.UUID, workers: int, events: int
) -> float:
    reset(port)
    with senders(env, url, workers):
        committed = commit_events(url, merchant, events)
        last = wait_for(port, events)
    return events / (last - committed)


def bare_loop(port: int, endpoint_id: uuid.UUID, events: int) -> float:
    """The same number of signed payloads posted by one httpx client, CONCURRENCY at a time."""
    secret_key = b"bench-key"
    plan = str(uuid.uuid4())

    async def run() -> float:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            queue = iter(range(1, events + 1))

            async def post_all() -> None:
                for n in queue:
                    body = json.dumps(
                        {
                            "id": n,
                            "type": "payment.applied",
                            "created_at": "2026-12-02T10:00:00+00:00",
                            "plan_id": plan,
                            "sequence": 1,
                            "effective_date": None,
                            "data": json.loads(_DATA),
                        }
                    ).encode()
                    # As a sender does for each: derive the secret, sign.
                    secrets = [endpoint_secret(secret_key, endpoint_id, 1)]
                    headers = signed_headers(n, secrets, body)
                    response = await client.post(
                        f"http://{HOST}:{port}/hooks", content=body, headers=headers
                    )
                    if response.status_code != 204:
                        raise LoadError(f"the receiver answered {response.status_code}")

            started = time.perf_counter()
            await asyncio.gather(*(post_all() for _ in range(CONCURRENCY)))
            return events / (time.perf_counter() - started)

    reset(port)
    return run_async(run)


def latency(
    url: str, env: Mapping[str, str], port: int, merchant: uuid.UUID, rate: float, duration: float
) -> list[float]:
    """Delays (s) from commit to first arrival, at a steady rate, with one sender running."""
    reset(port)

    async def produce() -> dict[int, float]:
        import asyncpg

        conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
        committed: dict[int, float] = {}
        try:
            start = time.monotonic()
            for n in range(int(rate * duration)):
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                [row] = await conn.fetch(_INSERT, merchant, [uuid.uuid4()], _DATA)
                committed[row["id"]] = time.time()
        finally:
            await conn.close()
        return committed

    with senders(env, url, 1):
        committed = run_async(produce)
        wait_for(port, len(committed))
    _, body = http_call(port, "GET", "/arrivals")
    arrivals = {int(k): v for k, v in json.loads(body).items()}
    return [arrivals[event_id] - at for event_id, at in committed.items()]


def bench(args: argparse.Namespace) -> None:
    print(
        f"{args.events:,} events delivered by `bnpl deliver` (1 and 2 processes, {CONCURRENCY}"
        f" in flight each) vs a bare httpx loop ({CONCURRENCY} in flight); then commit->arrival"
        f" at {args.rate:g} events/s for {args.duration:g} s",
        flush=True,
    )
    with (
        bench_database_env("bench-webhooks-db-") as env,
        server_database_url(env) as url,
        uvicorn_server("receiver", "_receiver_app:app", app_dir=BENCH_DIR, env=env) as receiver,
    ):
        wait_ready(receiver, "GET", "/stats", timeout=60)
        merchant, endpoint = setup(url, receiver.port)
        # The bare loop runs before and after the senders; the better of the two is the bar.
        bare = [bare_loop(receiver.port, endpoint, args.events)]
        rates = {w: throughput(url, env, receiver.port, merchant, w, args.events) for w in (1, 2)}
        bare.append(bare_loop(receiver.port, endpoint, args.events))
        print(f"  bare httpx loop:   {bare[0]:8,.0f} and {bare[1]:,.0f} posts/s", flush=True)
        for workers, rate in rates.items():
            print(
                f"  bnpl deliver x{workers}:   {rate:8,.0f} deliveries/s"
                f"  ratio {rate / max(bare):.2f} (goal >= {RATIO_GOAL})",
                flush=True,
            )
        delays = sorted(latency(url, env, receiver.port, merchant, args.rate, args.duration))
        cuts = statistics.quantiles(delays, n=100)
        print(
            f"  commit -> arrival ({len(delays):,} events at {args.rate:g}/s, 1 sender):"
            f" p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms,"
            f" max {delays[-1] * 1000:.0f} ms"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000, help="events a throughput run (5,000)")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s, latency run (100)")
    parser.add_argument("--duration", type=float, default=10.0, help="latency run seconds (10)")
    args = parser.parse_args(argv)
    if not 100 <= args.events <= 200_000:
        parser.error("--events must be in [100, 200,000]")
    if not 1 <= args.rate <= 2000 or not 1 <= args.duration <= 120:
        parser.error("--rate must be in [1, 2,000] and --duration in [1, 120]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BNPL_LOG_LEVEL", "warning")
    return bench_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())

"""Quote throughput: the schedule engine in-process, and POST /v1/quotes over HTTP.

Run from the repository root:  .venv/bin/python bench/quotes.py   (about 45 s; --help for flags)

(a) Engine, in-process, one core: `app.engine.build_schedule` calls per second (APR included)
    for a pay-in-4 (400.00 USD, 25% deposit, 3 biweekly installments, 0%) and a 12-month
    amortized plan (1000.00 USD, 15%, monthly); best of 3 timed repeats of a fixed count.
    Target: >= 20,000 12-month schedules/s. For reference it also times `service.quote` (engine
    plus building the pydantic response) on the HTTP terms.

(b) HTTP: the service (`app.main:create_app`, with a throwaway embedded PostgreSQL, or
    DATABASE_URL when set) and a bare FastAPI app (bench/_bare_app.py) are served by uvicorn
    subprocesses with identical settings on 127.0.0.1. The bare app takes the same request
    model and returns the same response, precomputed, so it is the ceiling of what FastAPI,
    pydantic and uvicorn allow on this machine right now. Requests carry an API key made by
    `bnpl merchants create` (with DATABASE_URL, that leaves a "bench ..." merchant there). A
    keep-alive HTTP/1.1 client in this process (bench/_load.py) drives 32 connections back to
    back; bare and ours run alternately, twice each, and the best run of each is kept, so the
    machine's noise hits both alike.

How to read it: the machine (2 cores, shared) is noisy, so absolute figures move from run to run;
the ratio ours/bare is the figure to track (target >= 0.8). "server us/req" is the server
process's CPU time per response (warm-up included): its bare/ours ratio tells the same story and
moves less when other tenants steal CPU. "client cpu" is the load generator's share of a core;
near 100% the client, not the server, would be the limit. Any non-2xx response aborts the run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _bare_app import TERMS_ENV
from _load import (
    BENCH_DIR,
    LoadError,
    LoadResult,
    Server,
    auth_headers,
    bench_database_env,
    build_request,
    create_api_key,
    http_call,
    run_load,
    uvicorn_server,
    wait_ready,
)

from app import engine
from app.products.schemas import Terms
from app.quotes import service

PAY_IN_4: dict[str, Any] = {
    "amount": 40000,
    "currency": "USD",
    "start_date": "2026-12-01",
    "deposit": {"percent": "25"},
    "installments": 3,
    "frequency": "biweekly",
    "interest_rate": "0",
}
TWELVE_MONTH: dict[str, Any] = {
    "amount": 100000,
    "currency": "USD",
    "start_date": "2027-01-15",
    "installments": 12,
    "frequency": "monthly",
    "interest_rate": "15",
    "interest_method": "amortized",
}
TERMS: dict[str, dict[str, Any]] = {"pay-in-4": PAY_IN_4, "12-month": TWELVE_MONTH}

ENGINE_COUNT = 20_000  # calls per timed repeat
ENGINE_REPEATS = 3
ENGINE_CHUNK = 500
ENGINE_REPEAT_CAP_S = 5.0  # a repeat stops early (and is rated on what it did) past this
ENGINE_TARGET = 20_000  # 12-month schedules/s
RATIO_TARGET = 0.8
HTTP_ROUNDS = 2
WARMUP_S = 1.0
PATH = "/v1/quotes"


# --------------------------------------------------------------------------------------------
# (a) Engine


def calls_per_second(call: Callable[[], object]) -> float:
    """Best of ENGINE_REPEATS repeats of ENGINE_COUNT calls (each capped in time), in calls/s."""
    best = 0.0
    for _ in range(ENGINE_REPEATS):
        done = 0
        start = time.perf_counter()
        deadline = start + ENGINE_REPEAT_CAP_S
        for _ in range(ENGINE_COUNT // ENGINE_CHUNK):
            for _ in range(ENGINE_CHUNK):
                call()
            done += ENGINE_CHUNK
            if time.perf_counter() >= deadline:
                break
        best = max(best, done / (time.perf_counter() - start))
    return best


def engine_terms(name: str) -> engine.ScheduleTerms:
    return Terms.model_validate(TERMS[name]).to_engine()


def bench_engine(http_terms: str) -> dict[str, float]:
    print(
        f"(a) Engine, in-process, one core: best of {ENGINE_REPEATS} x {ENGINE_COUNT:,} calls",
        flush=True,
    )
    rates: dict[str, float] = {}
    for name in TERMS:
        terms = engine_terms(name)
        engine.build_schedule(terms)  # fail before timing if the terms are refused
        rates[name] = calls_per_second(functools.partial(engine.build_schedule, terms))
    wire = Terms.model_validate(TERMS[http_terms])
    quote_rate = calls_per_second(lambda: service.quote(wire))

    twelve = rates["12-month"]
    verdict = "meets target" if twelve >= ENGINE_TARGET else "BELOW TARGET"
    print(f"  {'build_schedule, pay-in-4':<40} {rates['pay-in-4']:>10,.0f} schedules/s")
    print(
        f"  {'build_schedule, 12-month (with APR)':<40} {twelve:>10,.0f} schedules/s"
        f"   target >= {ENGINE_TARGET:,}: {twelve / ENGINE_TARGET:.2f}x, {verdict}"
    )
    print(f"  {f'service.quote, {http_terms} (reference)':<40} {quote_rate:>10,.0f} quotes/s")
    print()
    return {**rates, "service.quote": quote_rate}


# --------------------------------------------------------------------------------------------
# (b) HTTP


def _same_answer(bare: Server, ours: Server, body: bytes, headers: dict[str, str]) -> None:
    """Both servers must give the same 2xx answer, or the comparison means nothing."""
    answers = {}
    for server in (bare, ours):
        status, payload = http_call(server.port, "POST", PATH, body=body, headers=headers)
        if not 200 <= status < 300:
            raise LoadError(f"{server.name}: POST {PATH} answered {status}: {payload[:300]!r}")
        answers[server.name] = json.loads(payload)
    if answers["bare"] != answers["ours"]:
        raise LoadError(f"bare and ours answer differently: {answers}")


HEADER = (
    f"  {'':<16} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'requests':>10}"
    f" {'server us/req':>14} {'client cpu':>11}"
)


def _row(label: str, result: LoadResult) -> str:
    return (
        f"  {label:<16} {result.rps:>10,.0f} {result.p50_ms:>9.2f} {result.p99_ms:>9.2f}"
        f" {result.requests:>10,} {result.server_us_per_request:>14,.0f}"
        f" {result.client_cpu_share:>11.0%}"
    )


def bench_http(terms_name: str, connections: int, duration: float) -> dict[str, LoadResult]:
    body = json.dumps(TERMS[terms_name], separators=(",", ":")).encode()
    print(
        f"(b) HTTP POST {PATH} ({terms_name}, {len(body)}-byte body): {connections} connections,"
        f" {duration:g} s after {WARMUP_S:g} s warm-up, bare and ours alternately x{HTTP_ROUNDS}",
        flush=True,
    )
    started = time.monotonic()
    bare_env = {**os.environ, TERMS_ENV: body.decode()}
    with (
        bench_database_env() as ours_env,
        uvicorn_server("ours", "app.main:create_app", factory=True, env=ours_env) as ours,
        uvicorn_server("bare", "_bare_app:app", app_dir=BENCH_DIR, env=bare_env) as bare,
    ):
        wait_ready(ours, "GET", "/healthz", timeout=120)
        headers = auth_headers(create_api_key(ours))
        wait_ready(bare, "POST", PATH, body=body, headers=headers, timeout=60)
        _same_answer(bare, ours, body, headers)
        print(f"  servers up in {time.monotonic() - started:.1f} s; both answer the same quote")
        request = build_request("POST", PATH, body=body, headers=headers)

        runs: dict[str, list[LoadResult]] = {"bare": [], "ours": []}
        print(HEADER)
        for round_no in range(1, HTTP_ROUNDS + 1):
            for server in (bare, ours):
                result = run_load(
                    server.port,
                    request,
                    connections=connections,
                    warmup=WARMUP_S,
                    duration=duration,
                    server_pid=server.process.pid,
                )
                runs[server.name].append(result)
                print(_row(f"{server.name} run {round_no}", result), flush=True)

    best = {name: max(results, key=lambda r: r.rps) for name, results in runs.items()}
    ratio = best["ours"].rps / best["bare"].rps
    verdict = "meets target" if ratio >= RATIO_TARGET else "BELOW TARGET"
    print()
    print("  best run of each (by req/s)")
    print(HEADER)
    print(_row("bare (ceiling)", best["bare"]))
    print(_row("ours", best["ours"]))
    print(
        f"  ratio ours/bare: {ratio:.2f} req/s (target >= {RATIO_TARGET}: {verdict});"
        f" p50 {best['ours'].p50_ms / best['bare'].p50_ms:.2f}x,"
        f" p99 {best['ours'].p99_ms / best['bare'].p99_ms:.2f}x"
    )
    cpu = {name: min(r.server_us_per_request for r in results) for name, results in runs.items()}
    print(
        f"  server CPU per request, best of each: bare {cpu['bare']:,.0f} us, ours"
        f" {cpu['ours']:,.0f} us; ratio bare/ours {cpu['bare'] / cpu['ours']:.2f}"
        " (the same ratio, less sensitive to other tenants)"
    )
    print()
    return best


# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="measured seconds per HTTP run (default 5)"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrent connections (default 32)"
    )
    parser.add_argument(
        "--terms",
        choices=sorted(TERMS),
        default="12-month",
        help="the terms POSTed in (b) (default 12-month)",
    )
    parser.add_argument("--skip-http", action="store_true", help="skip (b)")
    parser.add_argument("--skip-engine", action="store_true", help="skip (a)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60] seconds")
    if not 1 <= args.connections <= 1024:
        parser.error("--connections must be in [1, 1024]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}\n")
    engine_rates = {} if args.skip_engine else bench_engine(args.terms)
    try:
        http = {} if args.skip_http else bench_http(args.terms, args.connections, args.duration)
    except LoadError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    if engine_rates and http:
        engine_us = 1e6 / engine_rates[args.terms]
        quote_us = 1e6 / engine_rates["service.quote"]
        bare_us = http["bare"].server_us_per_request
        if bare_us != bare_us:  # NaN: the server's CPU time was not measurable
            bare_us = 1e6 / http["bare"].rps
        print(
            f"Per request ({args.terms}): build_schedule {engine_us:.1f} us and service.quote"
            f" {quote_us:.1f} us, against {bare_us:.0f} us of server CPU per bare request"
            f" ({engine_us / bare_us:.0%} and {quote_us / bare_us:.0%} of it)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

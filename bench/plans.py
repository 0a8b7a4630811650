"""Plan creation throughput: POST /v1/plans over HTTP against raw asyncpg inserts of the same rows.

Run from the repository root:  .venv/bin/python bench/plans.py   (about 70 s; --help for flags)

Set-up: the service, run by `bnpl serve` as in production (one worker process per usable core;
--workers to change it), on a throwaway embedded PostgreSQL (or DATABASE_URL when set); a
merchant made by `bnpl merchants create`, and a realistic pay-in-4 product made over the API:
one offer of 3 biweekly installments, a 25 % minimum deposit, a late-fee policy,
`require_agreement: true` (so every plan renders and stores its written agreement), and no
eligibility limits. One plan is then created over HTTP as a prototype, and its rows are read back
from the database.

(a) HTTP: a keep-alive HTTP/1.1 client in this process (bench/_load.py) drives N connections
    (32 by default) back to back, each request a POST /v1/plans with a fresh Idempotency-Key, a
    fresh customer_id and order_id, 400.00 USD, 3 biweekly, starting today. Every answer must be
    a 201.

(b) Ceiling, in the same database in the same run: raw asyncpg, a pool of N connections, each
    transaction inserting exactly the rows the service wrote for the prototype plan, cloned with
    new ids (the row values are built in Python before the timed run): the plan, its 4
    installments (deposit and 3 installments, one multi-row INSERT), its `plan.created` event,
    its agreement (the same HTML document, byte for byte the same size) and its idempotency key
    with the stored response. BEGIN, 5 INSERTs, COMMIT: 7 round trips. It does none of the
    service's reads and checks (auth; the product's version, the merchant's name, the customer's
    standing, the key, the customer's lock), nor any computing (schedule, agreement rendering,
    JSON): that is what the ratio prices. The service writes a plan of a product it has read
    before in one statement, with those checks in it (idempotency.service.in_one_statement; README,
    "The busy writes"): 1 round trip.

Each HTTP run follows an ANALYZE, as autovacuum soon runs on a live database (_load.analyze:
the service's cached generic plans, made on empty tables, would scan a merchant's rows).
HTTP and raw runs alternate (--rounds times each) and the best run of each is kept, so the noise
of the shared 2-core machine hits both alike. How to read it: plans/s and p50/p99 latency per
request (HTTP) or per transaction (raw); the ratio HTTP/raw is the figure to track (target
>= 0.5). "server us/req" is the server's CPU per plan (all its processes), "db us/req"
PostgreSQL's (all its processes; the embedded server only), "client cpu" this process's share
of one core (near 100 % the load generator, not the server, would be the limit). All of it
shares 2 cores: the HTTP run's server, PostgreSQL and client compete, and so do the raw run's
client and PostgreSQL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from _load import (
    CeilingTable,
    LoadError,
    LoadResult,
    Server,
    analyze,
    asyncpg_connect_kwargs,
    auth_headers,
    bench_database_env,
    bench_main,
    build_request,
    check_write_bench_args,
    create_api_key,
    create_product,
    http_call,
    pay_in_4,
    postmaster_pid,
    run_async,
    run_db_load,
    run_load,
    server_database_url,
    service_server,
    service_workers,
    wait_ready,
    write_bench_parser,
)

from app.models import uuid7

PRODUCT = pay_in_4("Pay in 4 (bench)", require_agreement=True)
AMOUNT = 40000
PATH = "/v1/plans"
RATIO_TARGET = 0.5
WARMUP_S = 1.0
INSTALLMENTS = 4  # the deposit and 3 biweekly installments

# Columns the database fills itself (identity, generated, defaults of now() and the txid).
_SERVER_FILLED = {"created_at", "updated_at", "received_at", "txid", "amount_paid"}


# --------------------------------------------------------------------------------------------
# (a) HTTP


class PlanRequests:
    """A callable for the load generator: each call, the next POST /v1/plans, all different."""

    def __init__(self, product_id: str, headers: dict[str, str], run: str) -> None:
        self.product_id = product_id
        self.headers = headers
        self.run = run
        self.count = itertools.count()

    def body(self, n: int) -> bytes:
        return json.dumps(
            {
                "customer_id": f"cus_{self.run}_{n}",
                "order_id": f"ord_{self.run}_{n}",
                "product_id": self.product_id,
                "amount": AMOUNT,
                "installments": 3,
                "frequency": "biweekly",
                "metadata": {"channel": "web"},
            },
            separators=(",", ":"),
        ).encode()

    def __call__(self) -> bytes:
        n = next(self.count)
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        return build_request("POST", PATH, body=self.body(n), headers=headers)


# --------------------------------------------------------------------------------------------
# (b) Raw asyncpg


@dataclass
class Table:
    """One table's INSERT, and the prototype's rows as lists of values in column order."""

    name: str
    columns: list[str]
    rows: list[list[Any]]

    def statement(self) -> str:
        width = len(self.columns)
        values = ", ".join(
            "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
            for r in range(len(self.rows))
        )
        # Table and column names come from our constants and the schema, values are parameters.
        columns = ", ".join(self.columns)
        return f"INSERT INTO {self.name} ({columns}) VALUES {values}"  # noqa: S608

    def index(self, column: str) -> int | None:
        return self.columns.index(column) if column in self.columns else None


async def _generated_columns(conn: Any, table: str) -> set[str]:
    rows = await conn.fetch(
        """
        SELECT column_name FROM information_schema.columns
        WHERE table_name = $1 AND table_schema = current_schema()
          AND (is_generated = 'ALWAYS' OR is_identity = 'YES')
        """,
        table,
    )
    return {r["column_name"] for r in rows}


async def read_prototype(
    connect_kwargs: dict[str, Any], plan_id: uuid.UUID, idempotency_key: str
) -> list[Table]:
    """The rows one POST /v1/plans wrote, table by table, in foreign-key order."""
    queries = {
        "plans": ("SELECT * FROM plans WHERE id = $1", plan_id),
        "installments": (
            "SELECT * FROM installments WHERE plan_id = $1 ORDER BY sequence",
            plan_id,
        ),
        "events": ("SELECT * FROM events WHERE plan_id = $1 ORDER BY id", plan_id),
        "agreements": ("SELECT * FROM agreements WHERE plan_id = $1", plan_id),
        "idempotency_keys": ("SELECT * FROM idempotency_keys WHERE key = $1", idempotency_key),
    }
    conn = await asyncpg.connect(**connect_kwargs)
    try:
        tables = []
        for name, (query, arg) in queries.items():
            records = await conn.fetch(query, arg)
            if not records:
                raise LoadError(f"the prototype plan wrote no row in {name}")
            skip = _SERVER_FILLED | await _generated_columns(conn, name)
            columns = [c for c in records[0].keys() if c not in skip]  # noqa: SIM118
            tables.append(Table(name, columns, [[r[c] for c in columns] for r in records]))
        return tables
    finally:
        await conn.close()


class RawPlans:
    """The ceiling's work: the prototype's rows cloned with new ids, built before the run."""

    def __init__(self, tables: list[Table], run: str, count: int) -> None:
        self.tables = tables
        self.statements = [t.statement() for t in tables]
        self.args: list[list[list[Any]]] = [self._clone(run, n) for n in range(count)]

    def _clone(self, run: str, n: int) -> list[list[Any]]:
        plan_id = uuid7()
        args: list[list[Any]] = []
        for table in self.tables:
            flat: list[Any] = []
            for row in table.rows:
                values = list(row)
                if table.name == "plans":
                    values[table.columns.index("id")] = plan_id
                    values[table.columns.index("customer_id")] = f"cus_raw_{run}_{n}"
                    values[table.columns.index("order_id")] = f"ord_raw_{run}_{n}"
                else:
                    if (i := table.index("id")) is not None:
                        values[i] = uuid7()
                    if (i := table.index("plan_id")) is not None:
                        values[i] = plan_id
                    if (i := table.index("key")) is not None:
                        values[i] = str(uuid.uuid4())
                flat.extend(values)
            args.append(flat)
        return args

    async def work(self, conn: Any, n: int) -> None:
        async with conn.transaction():
            for statement, args in zip(self.statements, self.args[n], strict=True):
                await conn.execute(statement, *args)


# --------------------------------------------------------------------------------------------


TABLE = CeilingTable("plans")


def create_prototype(server: Server, requests: PlanRequests) -> tuple[uuid.UUID, str, int]:
    """One plan over HTTP: (its id, its Idempotency-Key, the response size)."""
    key = f"prototype-{uuid.uuid4()}"
    headers = {**requests.headers, "Idempotency-Key": key}
    status, payload = http_call(
        server.port, "POST", PATH, body=requests.body(-1), headers=headers, timeout=30
    )
    if status != 201:
        raise LoadError(f"POST {PATH} answered {status}: {payload[:300]!r}")
    plan = json.loads(payload)
    if len(plan["installments"]) != INSTALLMENTS or plan["status"] != "pending":
        raise LoadError(f"unexpected prototype plan: {plan}")
    return uuid.UUID(plan["id"]), key, len(payload)


def bench(args: argparse.Namespace) -> dict[str, LoadResult]:
    workers = service_workers(args.workers)
    print(
        f"POST {PATH} (pay-in-4, agreement required): {args.connections} connections, "
        f"{args.duration:g} s after {WARMUP_S:g} s warm-up; HTTP and raw alternately"
        f" x{args.rounds}; `bnpl serve --workers {workers}`",
        flush=True,
    )
    started = time.monotonic()
    runs: dict[str, list[LoadResult]] = {"raw": [], "http": []}
    with (
        bench_database_env("bench-plans-db-") as env,
        service_server(env, workers) as server,
    ):
        wait_ready(server, "GET", "/healthz", timeout=120)
        headers = auth_headers(create_api_key(server, "bench plans"))
        product_id = create_product(server, headers, PRODUCT)
        prototype = PlanRequests(product_id, headers, "proto")
        plan_id, key, response_size = create_prototype(server, prototype)
        with server_database_url(server.env) as url:
            connect_kwargs = asyncpg_connect_kwargs(url)
            tables = run_async(lambda: read_prototype(connect_kwargs, plan_id, key))
            db_pid = postmaster_pid(server.env)
            sizes = ", ".join(f"{t.name} {len(t.rows)}" for t in tables)
            agreements = next(t for t in tables if t.name == "agreements")
            html_size = len(agreements.rows[0][agreements.columns.index("html")])
            print(
                f"  server up and product made in {time.monotonic() - started:.1f} s; a plan"
                f" writes rows: {sizes}; agreement {html_size:,} chars,"
                f" response {response_size:,} bytes"
            )
            print(TABLE.header, flush=True)
            for round_no in range(1, args.rounds + 1):
                built = time.perf_counter()
                raw = RawPlans(tables, f"r{round_no}", args.raw_max)
                built = time.perf_counter() - built
                result = run_db_load(
                    connect_kwargs,
                    raw.work,
                    connections=args.connections,
                    warmup=WARMUP_S,
                    duration=args.duration,
                    max_items=args.raw_max,
                    db_pid=db_pid,
                )
                del raw
                runs["raw"].append(result)
                print(TABLE.row(f"raw run {round_no}", result) + f"  (rows built in {built:.1f} s)")
                analyze(connect_kwargs)
                result = run_load(
                    server.port,
                    PlanRequests(product_id, headers, f"h{round_no}"),
                    connections=args.connections,
                    warmup=WARMUP_S,
                    duration=args.duration,
                    server_pid=server.process.pid,
                    db_pid=db_pid,
                )
                runs["http"].append(result)
                print(TABLE.row(f"http run {round_no}", result), flush=True)

    return TABLE.report(runs, RATIO_TARGET, ": the service's extra statements and round trips")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = write_bench_parser(__doc__)
    parser.add_argument(
        "--raw-max",
        type=int,
        default=60_000,
        help="plans built up front per raw run, its bound in count (default 60,000)",
    )
    args = parser.parse_args(argv)
    check_write_bench_args(parser, args)
    if not 1_000 <= args.raw_max <= 500_000:
        parser.error("--raw-max must be in [1,000, 500,000]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())

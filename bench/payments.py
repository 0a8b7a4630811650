"""Payment throughput: signed payment webhooks over HTTP against raw asyncpg doing the same writes.

Run from the repository root:  .venv/bin/python bench/payments.py   (about 2 min; --help for flags)

Set-up: the service, run by `bnpl serve` as in production (one worker process per usable core;
--workers to change it), on a throwaway embedded PostgreSQL (or DATABASE_URL when set); a
merchant made by `bnpl merchants create` (its id, API key and webhook secret), a pay-in-4
product (25 % deposit, 3 biweekly installments, a late-fee policy, no agreement to sign, so a
plan is active once its deposit is paid), then --plans plans (2,000) made over the API and
their deposits paid by signed webhooks: every plan is active, with 3 installments left to pay.

(a) HTTP: a keep-alive HTTP/1.1 client in this process (bench/_load.py) drives N connections
    (32 by default) back to back, each request a Standard Webhooks signed POST
    /v1/webhooks/payment-events/{merchant_id}: a `payment.succeeded` with a new event id and a new
    payment id, --amount (1.00 USD) on the next plan round-robin, so concurrent requests are on
    different plans and do not queue on one plan's row lock. Every answer must be 200 `applied`.
    Payments are small enough that no plan is ever paid off (the run stops rather than let one).

(b) Ceiling, in the same database in the same run: raw asyncpg, a pool of N connections, each
    payment one transaction doing the writes the service must do: claim the event (INSERT into
    inbound_events ... ON CONFLICT DO NOTHING RETURNING), lock the plan row (SELECT ... FOR
    UPDATE), read its installments, allocate in Python (the service's own pure function,
    app.engine.allocation.allocate), INSERT the payment, UPDATE the installment(s) paid amounts
    and status in one statement, INSERT the allocation(s) in one statement, INSERT the
    `payment.applied` event: BEGIN, 7 statements, COMMIT. It skips what an HTTP request adds:
    parsing and signature checking, the merchant's secret (cached by the service) and the JSON
    answer. The service does the same writes in fewer round trips (the claim and the lock in one
    statement, the payment and all its writes in another: BEGIN, 4 statements, COMMIT); and like
    the ceiling it does not recompute statuses and delinquency here, because these payments are
    on current plans with nothing past due, where the service proves that recompute would change
    nothing and skips it (a payment on a late plan pays one more statement for it).

Each HTTP run follows an ANALYZE, as autovacuum soon runs on a live database (_load.analyze:
the service's cached generic plans, made on empty tables, would scan a merchant's rows).
HTTP and raw runs alternate (--rounds times each) on the same plans and the best run of each is
kept, so the noise of the shared 2-core machine hits both alike. How to read it: payments/s and
p50/p99 latency per request (HTTP) or per transaction (raw); the ratio HTTP/raw is the figure to
track (target >= 0.5). "server us/req" is the server's CPU per payment (all its
processes), "db us/req" PostgreSQL's (all its processes; the embedded server only), "client
cpu" this process's share of one core (it signs every webhook; near 100 % the client would be
the limit).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from _load import (
    CeilingTable,
    LoadError,
    LoadResult,
    MerchantCredentials,
    Server,
    analyze,
    asyncpg_connect_kwargs,
    auth_headers,
    bench_database_env,
    bench_main,
    build_request,
    check_write_bench_args,
    create_merchant,
    create_product,
    pay_in_4,
    postmaster_pid,
    run_async,
    run_db_load,
    run_load,
    send_all,
    server_database_url,
    service_server,
    service_workers,
    wait_ready,
    write_bench_parser,
)

from app import clock
from app.engine.allocation import OpenLine, allocate
from app.engine.installments import installment_status
from app.models import uuid7
from app.signing import sign

PRODUCT = pay_in_4("Pay in 4 (bench payments)", require_agreement=False)
PLAN_AMOUNT = 40000
DEPOSIT = 10000
AFTER_DEPOSIT = PLAN_AMOUNT - DEPOSIT
RATIO_TARGET = 0.5
WARMUP_S = 1.0
SOURCE = "payment_provider"
_PAID_COLUMN = {
    "late_fee": "paid_late_fee",
    "fee": "paid_fee",
    "interest": "paid_interest",
    "principal": "paid_principal",
}


class Ledger:
    """Hands out payment numbers, and the plan each goes to, for HTTP and raw runs alike.

    Plan k gets payments k, k + P, k + 2P ...: at most `per_plan` of them, so no plan is ever
    paid off; past that the run fails loudly instead of measuring something else.
    """

    def __init__(self, plan_ids: Sequence[uuid.UUID], amount: int) -> None:
        self.plan_ids = list(plan_ids)
        self.amount = amount
        self.per_plan = AFTER_DEPOSIT // amount - 1
        self.capacity = self.per_plan * len(self.plan_ids)
        self.numbers = itertools.count()

    def take(self) -> tuple[int, uuid.UUID]:
        n = next(self.numbers)
        if n >= self.capacity:
            raise LoadError(f"all {self.capacity:,} payments the plans can take were made")
        return n, self.plan_ids[n % len(self.plan_ids)]


def event_body(event_id: str, payment_id: str, plan_id: uuid.UUID, amount: int) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment.succeeded",
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {
                "payment_id": payment_id,
                "plan_id": str(plan_id),
                "amount": amount,
                "currency": "USD",
            },
        },
        separators=(",", ":"),
    ).encode()


class Webhooks:
    """Signed webhook requests: each call, a new event and payment on the next plan."""

    def __init__(self, credentials: MerchantCredentials, ledger: Ledger, run: str) -> None:
        self.path = f"/v1/webhooks/payment-events/{credentials.merchant_id}"
        self.secret = credentials.webhook_secret
        self.ledger = ledger
        self.run = run

    def request(self, n: int, plan_id: uuid.UUID, amount: int) -> bytes:
        event_id = f"evt_{self.run}_{n}"
        body = event_body(event_id, f"pay_{self.run}_{n}", plan_id, amount)
        timestamp = int(time.time())
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, event_id, timestamp, body),
        }
        return build_request("POST", self.path, body=body, headers=headers)

    def __call__(self) -> bytes:
        n, plan_id = self.ledger.take()
        return self.request(n, plan_id, self.ledger.amount)


class RawPayments:
    """The ceiling's work: one payment in one transaction, the writes the service must make."""

    INBOUND = (
        "INSERT INTO inbound_events (merchant_id, source, external_id, type, payload)"
        " VALUES ($1, $2, $3, 'payment.succeeded', $4) ON CONFLICT DO NOTHING"
        " RETURNING external_id"
    )
    LOCK = (
        "SELECT id, status, currency, schedule_version FROM plans"
        " WHERE id = $1 AND merchant_id = $2 FOR UPDATE"
    )
    INSTALLMENTS = (
        "SELECT id, sequence, due_date, principal, interest, fee, late_fee, paid_principal,"
        " paid_interest, paid_fee, paid_late_fee FROM installments"
        " WHERE merchant_id = $1 AND plan_id = $2 AND schedule_version = $3 ORDER BY sequence"
    )
    PAYMENT = (
        "INSERT INTO payments (id, merchant_id, plan_id, payment_id, status, amount, currency,"
        " paid_at, source) VALUES ($1, $2, $3, $4, 'succeeded', $5, $6, $7, 'webhook')"
    )
    PAY_INSTALLMENTS = """
        UPDATE installments AS i SET
            paid_late_fee = i.paid_late_fee + v.late_fee, paid_fee = i.paid_fee + v.fee,
            paid_interest = i.paid_interest + v.interest,
            paid_principal = i.paid_principal + v.principal,
            status = v.status,
            paid_at = CASE WHEN v.status = 'paid' THEN coalesce(i.paid_at, now()) END
        FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                    $6::text[]) AS v(id, late_fee, fee, interest, principal, status)
        WHERE i.id = v.id
    """
    ALLOCATIONS = """
        INSERT INTO allocations (merchant_id, plan_id, payment_id, installment_id, component,
                                 amount)
        SELECT $1, $2, $3, v.installment_id, v.component, v.amount
        FROM unnest($4::uuid[], $5::text[], $6::bigint[]) AS v(installment_id, component, amount)
    """
    EVENT = (
        "INSERT INTO events (merchant_id, plan_id, type, data)"
        " VALUES ($1, $2, 'payment.applied', $3)"
    )

    def __init__(self, merchant_id: uuid.UUID, ledger: Ledger, run: str) -> None:
        self.merchant_id = merchant_id
        self.ledger = ledger
        self.run = run

    async def work(self, conn: Any, _n: int) -> None:
        n, plan_id = self.ledger.take()
        amount, merchant = self.ledger.amount, self.merchant_id
        event_id, payment_id = f"evt_{self.run}_{n}", f"pay_{self.run}_{n}"
        paid_at = datetime.now(UTC)
        payload = event_body(event_id, payment_id, plan_id, amount).decode()
        today = clock.today()
        async with conn.transaction():
            if await conn.fetchval(self.INBOUND, merchant, SOURCE, event_id, payload) is None:
                raise LoadError(f"event {event_id} was already there")
            plan = await conn.fetchrow(self.LOCK, plan_id, merchant)
            rows = await conn.fetch(self.INSTALLMENTS, merchant, plan_id, plan["schedule_version"])
            result = allocate([_open_line(r) for r in rows], amount)
            if result.credit:
                raise LoadError(f"plan {plan_id} was paid off: the ledger is wrong")
            payment = uuid7()
            await conn.execute(
                self.PAYMENT, payment, merchant, plan_id, payment_id, amount, "USD", paid_at
            )
            paid: dict[uuid.UUID, dict[str, int]] = {}
            for portion in result.portions:
                parts = paid.setdefault(portion.ref, dict.fromkeys(_PAID_COLUMN, 0))
                parts[portion.component.value] += portion.amount
            by_id = {r["id"]: r for r in rows}
            statuses = [_status_after(by_id[ref], parts, today) for ref, parts in paid.items()]
            await conn.execute(
                self.PAY_INSTALLMENTS,
                list(paid),
                *([parts[c] for parts in paid.values()] for c in _PAID_COLUMN),
                statuses,
            )
            await conn.execute(
                self.ALLOCATIONS,
                merchant,
                plan_id,
                payment,
                [p.ref for p in result.portions],
                [p.component.value for p in result.portions],
                [p.amount for p in result.portions],
            )
            data = {
                "payment_id": payment_id,
                "amount": amount,
                "currency": "USD",
                "applied": result.applied,
                "credit": 0,
            }
            await conn.execute(self.EVENT, merchant, plan_id, json.dumps(data))


def _open_line(row: Any) -> OpenLine:
    return OpenLine(
        ref=row["id"],
        sequence=row["sequence"],
        late_fee=row["late_fee"] - row["paid_late_fee"],
        fee=row["fee"] - row["paid_fee"],
        interest=row["interest"] - row["paid_interest"],
        principal=row["principal"] - row["paid_principal"],
    )


def _status_after(row: Any, parts: dict[str, int], today: Any) -> str:
    due = row["principal"] + row["interest"] + row["fee"] + row["late_fee"]
    paid = sum(row[column] + parts[part] for part, column in _PAID_COLUMN.items())
    status = installment_status(due_date=row["due_date"], as_of=today, owed=due - paid, paid=paid)
    return status.value


# --------------------------------------------------------------------------------------------
# Set-up over the API


def create_active_plans(
    server: Server, credentials: MerchantCredentials, count: int, connections: int
) -> list[uuid.UUID]:
    """`count` plans over the API, each with its deposit paid by a signed webhook."""
    headers = auth_headers(credentials.api_key)
    product_id = create_product(server, headers, PRODUCT)
    requests = [
        build_request(
            "POST",
            "/v1/plans",
            body=json.dumps(
                {
                    "customer_id": f"cus_setup_{k}",
                    "order_id": f"ord_setup_{k}",
                    "product_id": product_id,
                    "amount": PLAN_AMOUNT,
                    "installments": 3,
                    "frequency": "biweekly",
                }
            ).encode(),
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        for k in range(count)
    ]
    answers = run_async(lambda: send_all(server.port, requests, connections=connections))
    plans = []
    for status, payload in answers:
        if status != 201:
            raise LoadError(f"POST /v1/plans answered {status}: {payload[:300]!r}")
        plan = json.loads(payload)
        if plan["deposit_amount"] != DEPOSIT:
            raise LoadError(f"unexpected plan: {plan}")
        plans.append(uuid.UUID(plan["id"]))
    hooks = Webhooks(credentials, Ledger(plans, DEPOSIT), "deposit")
    deposits = [hooks.request(k, plan_id, DEPOSIT) for k, plan_id in enumerate(plans)]
    for status, payload in run_async(
        lambda: send_all(server.port, deposits, connections=connections)
    ):
        if status != 200 or json.loads(payload)["status"] != "applied":
            raise LoadError(f"a deposit webhook answered {status}: {payload[:300]!r}")
    return plans


# --------------------------------------------------------------------------------------------


TABLE = CeilingTable("payments")


def bench(args: argparse.Namespace) -> dict[str, LoadResult]:
    workers = service_workers(args.workers)
    print(
        f"POST /v1/webhooks/payment-events/{{merchant}} (payment.succeeded, {args.amount} minor"
        f" units, over {args.plans:,} plans): {args.connections} connections, {args.duration:g} s"
        f" after {WARMUP_S:g} s warm-up; HTTP and raw alternately x{args.rounds};"
        f" `bnpl serve --workers {workers}`",
        flush=True,
    )
    started = time.monotonic()
    runs: dict[str, list[LoadResult]] = {"raw": [], "http": []}
    with (
        bench_database_env("bench-payments-db-") as env,
        service_server(env, workers) as server,
    ):
        wait_ready(server, "GET", "/healthz", timeout=120)
        credentials = create_merchant(server, "bench payments")
        plans = create_active_plans(server, credentials, args.plans, args.connections)
        ledger = Ledger(plans, args.amount)
        print(
            f"  set up in {time.monotonic() - started:.1f} s: {len(plans):,} active plans, room"
            f" for {ledger.capacity:,} payments of {args.amount}"
        )
        merchant_id = uuid.UUID(credentials.merchant_id)
        with server_database_url(server.env) as url:
            connect_kwargs = asyncpg_connect_kwargs(url)
            db_pid = postmaster_pid(server.env)
            print(TABLE.header, flush=True)
            for round_no in range(1, args.rounds + 1):
                raw = RawPayments(merchant_id, ledger, f"raw{round_no}")
                result = run_db_load(
                    connect_kwargs,
                    raw.work,
                    connections=args.connections,
                    warmup=WARMUP_S,
                    duration=args.duration,
                    db_pid=db_pid,
                )
                runs["raw"].append(result)
                print(TABLE.row(f"raw run {round_no}", result), flush=True)
                analyze(connect_kwargs)
                result = run_load(
                    server.port,
                    Webhooks(credentials, ledger, f"http{round_no}"),
                    connections=args.connections,
                    warmup=WARMUP_S,
                    duration=args.duration,
                    server_pid=server.process.pid,
                    db_pid=db_pid,
                )
                runs["http"].append(result)
                print(TABLE.row(f"http run {round_no}", result), flush=True)

    return TABLE.report(runs, RATIO_TARGET, "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = write_bench_parser(__doc__)
    parser.add_argument(
        "--plans", type=int, default=2000, help="active plans the payments spread over (2,000)"
    )
    parser.add_argument(
        "--amount", type=int, default=100, help="each payment, in minor units (default 100)"
    )
    args = parser.parse_args(argv)
    check_write_bench_args(parser, args)
    if not args.connections <= args.plans <= 100_000:
        parser.error("--plans must be in [--connections, 100,000]")
    if not 1 <= args.amount <= AFTER_DEPOSIT // 10:
        parser.error(f"--amount must be in [1, {AFTER_DEPOSIT // 10}]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())

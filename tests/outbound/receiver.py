"""A real HTTP receiver on 127.0.0.1 for the delivery tests, in a thread: it verifies every
signature with the `standardwebhooks` package (an implementation independent of ours), and can
fail, go down, come back, or hold its answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    # The secrets (of those the receiver knows) that verify this request.
    verified_by: tuple[str, ...]
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    # Answer 500 to a request when this says so (it sees the payload).
    fail: Callable[[dict[str, Any]], bool] = lambda _: False
    # Set: answers wait until it is released (or 10 s).
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    # webhook-ids seen arriving while the same id was still being answered.
    overlapping: list[str] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on the port until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def payloads(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if type_ is None or r.payload["type"] == type_]

    def delivered(self) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.status == 200]

    def _verified_by(self, headers: dict[str, str], body: bytes) -> tuple[str, ...]:
        good = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            good.append(secret)
        return tuple(good)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            if msg_id in self._in_flight:
                self.overlapping.append(msg_id)
            self._in_flight.add(msg_id)
        try:
            if self.hold is not None:
                self.hold.wait(10)
            status = 500 if self.fail(json.loads(body)) else 200
            answer = b"x" * 2000 if status == 500 else b"ok"
            with self._lock:
                self.received.append(
                    Received(headers, body, self._verified_by(headers, body), status)
                )
            handler.send_response(status)
            handler.send_header("content-length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting
        finally:
            with self._lock:
                self._in_flight.discard(msg_id)

"""The webhook receiver of bench/webhooks.py: a bare ASGI app (no framework) that answers every
POST 204 at once and keeps when each event id first arrived. GET /stats: how many POSTs came and
when the last did; GET /arrivals: {event id: first arrival (Unix time)}; DELETE /: forget all.
Serve it with uvicorn, as the other benchmarks' servers are."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_arrivals: dict[int, float] = {}
_state = {"count": 0, "last": 0.0}


async def _answer(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    method = scope["method"]
    if method == "POST":
        event_id = json.loads(await _body(receive))["id"]
        now = time.time()
        _arrivals.setdefault(event_id, now)
        _state["count"] += 1
        _state["last"] = now
        await _answer(send, 204)
    elif method == "GET" and scope["path"] == "/stats":
        await _answer(send, 200, json.dumps(_state).encode())
    elif method == "GET" and scope["path"] == "/arrivals":
        await _answer(send, 200, json.dumps(_arrivals).encode())
    elif method == "DELETE":
        _arrivals.clear()
        _state.update(count=0, last=0.0)
        await _answer(send, 204)
    else:
        await _answer(send, 404)

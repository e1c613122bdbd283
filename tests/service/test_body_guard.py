"""BodyGuard (supply/server.py), in process: the app behind it answers as it does directly; a body is
read whole before the app sees it; too large, too slow, too many from one address and too many in all
are refused in the error shape without reaching the app."""
from __future__ import annotations

import asyncio
import json

import pytest

from supply.server import BodyGuard
from tests.helpers import order, stocked_farm


@pytest.fixture(params=["rsgi", "asgi"])
def door(request):
    """Both of the guard's doors: RSGI (what `coop serve` runs under granian) and ASGI."""
    return request.param


class _Headers:
    """granian's RSGI headers: lower-case names, str values, a dict-like view."""

    def __init__(self, pairs):
        self.pairs = [(k.lower(), v) for k, v in pairs]

    def __contains__(self, key):
        return any(k == key for k, _ in self.pairs)

    def get(self, key, default=None):
        return next((v for k, v in self.pairs if k == key), default)

    def items(self):
        return list(self.pairs)


class _Scope:
    def __init__(self, method, path, headers, query, client):
        self.proto, self.http_version, self.rsgi_version, self.scheme = "http", "1.1", "1.5", "http"
        self.server, self.client = "127.0.0.1:8000", f"{client[0]}:{client[1]}"
        self.method, self.path, self.query_string, self.authority = method, path, query.decode(), None
        self.headers = _Headers(headers)


class _Proto:
    """granian's RSGI protocol as the guard uses it: the body whole or chunk by chunk, and one answer."""

    def __init__(self, chunks, pause_s):
        self.chunks, self.pause_s, self.answer = list(chunks), pause_s, None

    async def __call__(self):
        return b"".join([chunk async for chunk in self])

    async def __aiter__(self):
        for chunk in self.chunks:
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
            yield chunk

    def response_bytes(self, status, headers, body):
        self.answer = (status, {k.lower().encode(): v.encode() for k, v in headers}, body)


def call(guard, method, path, headers=(), chunks=(b"",), query=b"", client=("10.0.0.1", 5000), pause_s=0.0,
         door="asgi"):
    if door == "rsgi":
        proto = _Proto(chunks, pause_s)
        asyncio.run(guard.__rsgi__(_Scope(method, path, headers, query, client), proto))
        return proto.answer
    sent: list = []

    async def run():
        queue = list(chunks)

        async def receive():
            if pause_s:
                await asyncio.sleep(pause_s)
            body = queue.pop(0) if queue else b""
            return {"type": "http.request", "body": body, "more_body": bool(queue)}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "query_string": query, "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers], "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 8000), "client": client}
        await guard(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def test_the_app_behind_the_guard_answers_as_it_does_directly(app, client, manager, door):
    stocked_farm(client, manager, 10)
    guard = BodyGuard(app, threads=2, max_body=app.config["MAX_CONTENT_LENGTH"])
    raw = json.dumps(order(external_id="g-1", lines=(("NOODLE-500", 2),))).encode()
    headers = [*manager.items(), ("Content-Type", "application/json"), ("Content-Length", str(len(raw)))]
    status, _, body = call(guard, "POST", "/api/v1/orders", headers, chunks=(raw[:7], raw[7:20], raw[20:]),
                           door=door)
    assert status == 201 and json.loads(body)["status"] == "reserved"
    status, _, body = call(guard, "GET", "/api/v1/platform-messages", list(manager.items()), query=b"page_size=5",
                           door=door)
    assert status == 200 and json.loads(body) == client.get("/api/v1/platform-messages?page_size=5",
                                                           headers=manager).get_json()
    status, _, body = call(guard, "GET", "/api/v1/products/NOODLE-500/availability", list(manager.items()),
                           door=door)
    assert json.loads(body)["reserved"] == 2


def test_a_body_declared_too_large_is_a_413_before_it_is_read(app, door):
    guard = BodyGuard(app, threads=1, max_body=100)
    status, headers, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Content-Length", "101")], door=door)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"


def test_a_body_slower_than_the_minimum_rate_is_a_408(app, door):
    guard = BodyGuard(app, threads=1, max_body=1000, grace_s=0.1, min_rate=1000)
    status, _, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Content-Length", "500")],
                           chunks=(b"x",) * 500, pause_s=0.05, door=door)
    assert status == 408 and json.loads(body)["error"]["code"] == "body_too_slow"
    # without a declared length (chunked), read piece by piece against the same rate
    status, _, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Transfer-Encoding", "chunked")],
                           chunks=(b"x",) * 500, pause_s=0.05, door=door)
    assert status == 408 and json.loads(body)["error"]["code"] == "body_too_slow"


def test_a_body_longer_than_allowed_without_a_declared_length_is_a_413(app, door):
    guard = BodyGuard(app, threads=1, max_body=100)
    status, _, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Transfer-Encoding", "chunked")],
                           chunks=(b"x" * 60, b"x" * 60), door=door)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    assert guard.reading == {} and guard.reading_total == 0


def test_one_address_beyond_its_share_is_a_429_and_beyond_the_total_a_503(app, door):
    guard = BodyGuard(app, threads=1, max_body=1000, per_address=1, total=2)
    guard.reading, guard.reading_total = {"10.0.0.1": 1}, 1   # one body of 10.0.0.1 still coming
    headers = [("Content-Length", "10")]
    status, extra, body = call(guard, "POST", "/api/v1/webhooks/generic", headers, client=("10.0.0.1", 1),
                               door=door)
    assert status == 429 and json.loads(body)["error"]["code"] == "rate_limited"
    guard.reading, guard.reading_total = {"10.0.0.1": 1, "10.0.0.2": 1}, 2
    status, extra, body = call(guard, "POST", "/api/v1/webhooks/generic", headers, client=("10.0.0.9", 1),
                               door=door)
    assert status == 503 and extra[b"retry-after"] == b"2"

"""BodyGuard (supply/server.py), in process: the app behind it answers as it does directly; a body is
read whole before the app sees it; too large, too slow, too many from one address and too many in all
are refused in the error shape without reaching the app."""
from __future__ import annotations

import asyncio
import json

from supply.server import BodyGuard
from tests.helpers import order, stocked_farm


def call(guard, method, path, headers=(), chunks=(b"",), query=b"", client=("10.0.0.1", 5000), pause_s=0.0):
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


def test_the_app_behind_the_guard_answers_as_it_does_directly(app, client, manager):
    stocked_farm(client, manager, 10)
    guard = BodyGuard(app, threads=2, max_body=app.config["MAX_CONTENT_LENGTH"])
    raw = json.dumps(order(external_id="g-1", lines=(("NOODLE-500", 2),))).encode()
    headers = [*manager.items(), ("Content-Type", "application/json"), ("Content-Length", str(len(raw)))]
    status, _, body = call(guard, "POST", "/api/v1/orders", headers, chunks=(raw[:7], raw[7:20], raw[20:]))
    assert status == 201 and json.loads(body)["status"] == "reserved"
    status, _, body = call(guard, "GET", "/api/v1/platform-messages", list(manager.items()), query=b"limit=5")
    assert status == 200 and json.loads(body) == client.get("/api/v1/platform-messages?limit=5",
                                                           headers=manager).get_json()
    status, _, body = call(guard, "GET", "/api/v1/products/NOODLE-500/availability", list(manager.items()))
    assert json.loads(body)["reserved"] == 2


def test_a_body_declared_too_large_is_a_413_before_it_is_read(app):
    guard = BodyGuard(app, threads=1, max_body=100)
    status, headers, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Content-Length", "101")])
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"


def test_a_body_slower_than_the_minimum_rate_is_a_408(app):
    guard = BodyGuard(app, threads=1, max_body=1000, grace_s=0.1, min_rate=1000)
    status, _, body = call(guard, "POST", "/api/v1/webhooks/generic", [("Content-Length", "500")],
                           chunks=(b"x",) * 500, pause_s=0.05)
    assert status == 408 and json.loads(body)["error"]["code"] == "body_too_slow"


def test_one_address_beyond_its_share_is_a_429_and_beyond_the_total_a_503(app):
    guard = BodyGuard(app, threads=1, max_body=1000, per_address=1, total=2)
    guard.reading, guard.reading_total = {"10.0.0.1": 1}, 1   # one body of 10.0.0.1 still coming
    headers = [("Content-Length", "10")]
    status, extra, body = call(guard, "POST", "/api/v1/webhooks/generic", headers, client=("10.0.0.1", 1))
    assert status == 429 and json.loads(body)["error"]["code"] == "rate_limited"
    guard.reading, guard.reading_total = {"10.0.0.1": 1, "10.0.0.2": 1}, 2
    status, extra, body = call(guard, "POST", "/api/v1/webhooks/generic", headers, client=("10.0.0.9", 1))
    assert status == 503 and extra[b"retry-after"] == b"2"

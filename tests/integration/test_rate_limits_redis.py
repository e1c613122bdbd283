"""Rate limits on real Redis: every worker process of a deployment shares one count per address.

Two apps built from the same settings stand for two gunicorn workers; the counts live in Redis under a
key prefix of this test's own, removed afterwards.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from tests.conftest import REDIS_URL, require_service

BAD_TOKEN = {"Authorization": "Bearer coop_" + "x" * 43}


@pytest.fixture
def prefix():
    require_service(bool(REDIS_URL), "Redis")
    import redis

    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    conn = redis.Redis.from_url(REDIS_URL)
    keys = list(conn.scan_iter(f"*{prefix}*"))
    if keys:
        conn.delete(*keys)
    conn.close()


@pytest.fixture
def workers(db, settings, prefix):
    from supply.app import create_app
    from supply.wiring import build_services

    shared = settings.with_(redis_url=REDIS_URL, rate_limit_key_prefix=prefix,
                            rate_limit_webhooks="3 per minute", rate_limit_unauthenticated="3 per minute")
    return [create_app(shared, services=build_services(shared, db=db)).test_client() for _ in range(2)]


def push(client, external_id: str):
    raw = json.dumps({"events": [{"type": "order.cancelled", "order": {
        "platform": "generic", "external_id": external_id, "lines": []}}]}).encode()
    signature = hmac.new(b"test-secret", raw, hashlib.sha256).hexdigest()
    return client.post("/api/v1/webhooks/generic", data=raw,
                       headers={"X-Signature": f"sha256={signature}", "Content-Type": "application/json"})


def test_the_counts_are_in_redis_under_the_prefix(workers, prefix):
    import redis

    first, _ = workers
    assert first.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert push(first, "c-1").status_code == 200
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(f"*{prefix}*")]
    assert any("unauthenticated" in k for k in keys) and any("generic@" in k for k in keys), keys


def test_failed_authentications_add_up_across_workers(workers, manager):
    first, second = workers
    assert first.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert first.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert second.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert second.get("/api/v1/products", headers=BAD_TOKEN).status_code == 429
    assert second.get("/api/v1/products", headers=manager).status_code == 429
    # The first worker learns at the address's next failure there, and refuses it from then on.
    assert first.get("/api/v1/products", headers=BAD_TOKEN).status_code == 429
    assert first.get("/api/v1/products", headers=manager).status_code == 429


def test_pushes_add_up_across_workers(workers):
    first, second = workers
    assert [push(client, f"c-{n}").status_code for n, client in enumerate((first, second, first))] == [200] * 3
    refused = push(second, "c-3")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

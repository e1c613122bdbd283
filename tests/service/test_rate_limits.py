"""Rate limits: signed pushes per platform and address, failed authentication per address.

Counted in Redis when REDIS_URL is set (each test under a key prefix of its own), in memory otherwise.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from config import Settings
from tests.conftest import REDIS_URL
from tests.helpers import stocked_farm

SKU = "NOODLE-500"
BAD_TOKEN = {"Authorization": "Bearer coop_" + "x" * 43}
OTHER_ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def make_client(db, settings):
    """A test client for an app with the given limits (and the other settings of the test fixtures)."""
    from supply.app import create_app
    from supply.wiring import build_services

    def make(**changes):
        changes = {"redis_url": REDIS_URL or None, "rate_limit_key_prefix": f"test-{uuid.uuid4().hex}", **changes}
        limited = settings.with_(**changes)
        return create_app(limited, services=build_services(limited, db=db)).test_client()

    return make


@pytest.fixture
def seeded(client, manager):
    stocked_farm(client, manager, 100)


def push(client, external_id: str, platform: str = "testshop", secret: str = "shop-secret", environ=None):
    """One signed order.paid event for one unit."""
    event = {"type": "order.paid", "order": {"platform": platform, "external_id": external_id,
                                             "lines": [{"sku": SKU, "quantity": 1}]}}
    raw = json.dumps({"events": [event]}).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(f"/api/v1/webhooks/{platform}", data=raw, environ_base=environ or {},
                       headers={"X-Signature": f"sha256={signature}", "Content-Type": "application/json"})


def reserved(client, manager) -> int:
    return client.get(f"/api/v1/products/{SKU}/availability", headers=manager).get_json()["reserved"]


def assert_rate_limited(response, window_s: int = 60) -> None:
    assert response.status_code == 429, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "rate_limited"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= window_s


def test_the_fourth_push_in_a_minute_is_refused_and_stores_nothing(make_client, seeded, manager):
    client = make_client(rate_limit_webhooks="3 per minute")
    for n in range(3):
        assert push(client, f"w-{n}").status_code == 200
    assert_rate_limited(push(client, "w-3"))
    assert reserved(client, manager) == 3
    stored = {m["external_order_id"] for m in client.get("/api/v1/platform-messages", headers=manager).get_json()}
    assert stored == {"w-0", "w-1", "w-2"}


def test_pushes_are_counted_per_platform_and_per_address(make_client, seeded):
    client = make_client(rate_limit_webhooks="3 per minute")
    for n in range(3):
        assert push(client, f"w-{n}").status_code == 200
    assert_rate_limited(push(client, "w-3"))
    assert push(client, "w-4", environ=OTHER_ADDRESS).status_code == 200
    assert push(client, "g-1", platform="generic", secret="test-secret").status_code == 200


def test_badly_signed_pushes_count_against_the_push_limit_only(make_client, seeded, manager):
    client = make_client(rate_limit_webhooks="3 per minute", rate_limit_unauthenticated="3 per minute")
    for n in range(3):
        assert push(client, f"w-{n}", secret="not-the-secret").status_code == 401
    assert_rate_limited(push(client, "w-3"))
    # The failed signatures are not failed tokens: a manager from the same address is not held up.
    assert client.get("/api/v1/products", headers=manager).status_code == 200


def test_the_fourth_bad_token_is_refused_and_then_even_a_valid_token_waits(make_client, manager):
    client = make_client(rate_limit_unauthenticated="3 per minute")
    for headers in (BAD_TOKEN, {}, {"Authorization": "Basic bWFuYWdlcjpwYXNz"}):
        assert client.get("/api/v1/products", headers=headers).status_code == 401
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN))
    # Over the limit, the address is refused before any token is looked at, the valid one included.
    assert_rate_limited(client.get("/api/v1/products", headers=manager))
    assert_rate_limited(client.post("/api/v1/farms", headers=manager, json={"name": "f", "lat": 1, "lon": 1}))
    assert client.get("/healthz").status_code == 200
    # Another address has its own count.
    assert client.get("/api/v1/products", headers=manager, environ_base=OTHER_ADDRESS).status_code == 200
    assert client.get("/api/v1/products", headers=BAD_TOKEN, environ_base=OTHER_ADDRESS).status_code == 401


def test_a_refused_request_changes_nothing(make_client, manager, db):
    client = make_client(rate_limit_unauthenticated="1 per minute")
    assert client.get("/api/v1/farms", headers=BAD_TOKEN).status_code == 401
    assert_rate_limited(client.get("/api/v1/farms", headers=BAD_TOKEN))
    assert_rate_limited(client.post("/api/v1/farms", headers=manager, json={"name": "f", "lat": 42.5, "lon": 1.52}))
    assert client.get("/api/v1/farms", headers=manager, environ_base=OTHER_ADDRESS).get_json() == []


def test_requests_with_a_valid_token_are_never_counted_nor_reach_the_counter_storage(make_client, manager,
                                                                                     monkeypatch):
    client = make_client(rate_limit_unauthenticated="3 per minute", rate_limit_webhooks="3 per minute")
    storage = client.application.extensions["coop_rate_limits"].storage
    calls = []
    for name in ("incr", "get", "get_expiry", "check"):
        original = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))

    for _ in range(50):
        assert client.get("/api/v1/products", headers=manager).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert calls == []
    # The count is untouched: three failures are still answered 401, the fourth is refused.
    for _ in range(3):
        assert client.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert "incr" in calls
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN))


@pytest.mark.parametrize("off", ["0", ""])
def test_a_limit_of_zero_or_empty_never_refuses(make_client, seeded, off):
    client = make_client(rate_limit_webhooks=off, rate_limit_unauthenticated=off)
    assert "coop_rate_limits" not in client.application.extensions
    for n in range(30):
        assert client.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
        assert push(client, f"w-{n}").status_code == 200


def test_with_the_counter_storage_down_requests_are_served_and_counted_in_memory(make_client, seeded, manager):
    client = make_client(redis_url="redis://127.0.0.1:1/0", rate_limit_webhooks="3 per minute",
                         rate_limit_unauthenticated="3 per minute")
    for n in range(3):
        assert push(client, f"w-{n}").status_code == 200
    assert_rate_limited(push(client, "w-3"))
    for _ in range(3):
        assert client.get("/api/v1/products", headers=BAD_TOKEN).status_code == 401
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN))
    assert client.get("/api/v1/products", headers=manager, environ_base=OTHER_ADDRESS).status_code == 200


def test_counts_are_kept_in_redis_when_redis_url_is_set(make_client):
    from limits.storage import MemoryStorage, RedisStorage

    storage = make_client().application.extensions["coop_rate_limits"].storage
    assert isinstance(storage, RedisStorage if REDIS_URL else MemoryStorage)


def test_limits_come_from_the_environment_where_empty_means_off():
    defaults = Settings.from_env({})
    assert (defaults.rate_limit_webhooks, defaults.rate_limit_unauthenticated) == ("100 per second", "60 per minute")
    read = Settings.from_env({"COOP_RATE_LIMIT_WEBHOOKS": "", "COOP_RATE_LIMIT_UNAUTHENTICATED": "5/minute",
                              "COOP_RATE_LIMIT_KEY_PREFIX": "county-a"})
    assert (read.rate_limit_webhooks, read.rate_limit_unauthenticated, read.rate_limit_key_prefix) == (
        "", "5/minute", "county-a")


def test_a_limit_that_is_not_a_rate_is_refused_at_start_naming_the_variable(make_client):
    with pytest.raises(ValueError, match="COOP_RATE_LIMIT_UNAUTHENTICATED"):
        make_client(rate_limit_unauthenticated="sixty a minute")


PROXY = {"REMOTE_ADDR": "10.0.0.2"}   # every request arrives from the one proxy


def forwarded_for(address: str) -> dict:
    return {**PROXY, "HTTP_X_FORWARDED_FOR": address}


def test_behind_a_trusted_proxy_each_client_address_has_its_own_count(make_client, seeded, manager):
    client = make_client(rate_limit_unauthenticated="3 per minute", trusted_proxies=1)
    for _ in range(3):
        assert client.get("/api/v1/products", headers=BAD_TOKEN,
                          environ_base=forwarded_for("198.51.100.1")).status_code == 401
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN,
                                   environ_base=forwarded_for("198.51.100.1")))
    # Another client behind the same proxy is not held up by the first one's failures.
    assert client.get("/api/v1/products", headers=manager,
                      environ_base=forwarded_for("198.51.100.2")).status_code == 200
    # The proxy appends what it received from: an address the client wrote itself is not believed.
    assert_rate_limited(client.get("/api/v1/products", headers=manager,
                                   environ_base=forwarded_for("198.51.100.9, 198.51.100.1")))
    # The order fast lane sees the client's address too: it does not record for a refused one.
    order = {"platform": "douyin", "external_id": "behind-proxy", "lines": [{"sku": SKU, "quantity": 1}]}
    assert_rate_limited(client.post("/api/v1/orders", headers=manager, json=order,
                                    environ_base=forwarded_for("198.51.100.1")))
    assert client.post("/api/v1/orders", headers=manager, json=order,
                       environ_base=forwarded_for("198.51.100.2")).status_code == 201


def test_without_trusted_proxies_a_forwarded_address_changes_nothing(make_client, manager):
    client = make_client(rate_limit_unauthenticated="3 per minute")
    for n in range(3):
        assert client.get("/api/v1/products", headers=BAD_TOKEN,
                          environ_base=forwarded_for(f"198.51.100.{n}")).status_code == 401
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN,
                                   environ_base=forwarded_for("198.51.100.3")))
    assert_rate_limited(client.get("/api/v1/products", headers=manager,
                                   environ_base=forwarded_for("198.51.100.200")))


def test_pushes_behind_a_trusted_proxy_are_counted_per_sending_server(make_client, seeded):
    client = make_client(rate_limit_webhooks="2 per minute", trusted_proxies=1)
    for n in range(2):
        assert push(client, f"p-{n}", environ=forwarded_for("192.0.2.10")).status_code == 200
    assert_rate_limited(push(client, "p-2", environ=forwarded_for("192.0.2.10")))
    assert push(client, "p-3", environ=forwarded_for("192.0.2.11")).status_code == 200


def test_trusted_proxies_come_from_the_environment_as_a_count():
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"COOP_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    for bad in ("yes", "-1", "1.5"):
        with pytest.raises(ValueError, match="COOP_TRUSTED_PROXIES"):
            Settings.from_env({"COOP_TRUSTED_PROXIES": bad})

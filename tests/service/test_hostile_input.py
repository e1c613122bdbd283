"""Hostile bodies and query parameters are refused cheaply, in the error shape, on every route: JSON
nested ten thousand deep (webhooks included, before any signature), integers beyond 64 bits in query
parameters and bodies, bodies beyond the size limit. Each of these was a 500 before."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from config import Settings

DEEP = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
YOUZAN = {"client_id": "yz-client", "client_secret": "yz-secret"}


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, platform_secrets={"testshop": "shop-secret", "youzan": YOUZAN})


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.get_data()[:300]
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    return error


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["lists", "objects"])
def test_json_nested_ten_thousand_deep_is_refused_on_json_routes(client, manager, body):
    for path in ("/api/v1/orders", "/api/v1/orders/batch", "/api/v1/farms", "/api/v1/stock/adjustments"):
        response = client.post(path, data=body, headers={**manager, "Content-Type": "application/json"})
        assert assert_error_shape(response, 400)["code"] == "too_deep"


def test_json_nested_ten_thousand_deep_is_refused_on_a_webhook_signed_or_not(client):
    digest = hmac.new(b"shop-secret", DEEP_OBJECT, hashlib.sha256).hexdigest()
    signed = client.post("/api/v1/webhooks/testshop", data=DEEP_OBJECT,
                         headers={"X-Signature": f"sha256={digest}", "Content-Type": "application/json"})
    assert signed.status_code in (400, 422)
    assert_error_shape(signed, signed.status_code)
    # Youzan's legacy form is read before its signature is checked: it must not recurse either.
    for content_type in ("application/json", "text/plain"):
        unsigned = client.post("/api/v1/webhooks/youzan", data=DEEP_OBJECT, headers={"Content-Type": content_type})
        assert unsigned.status_code in (400, 401)
        assert_error_shape(unsigned, unsigned.status_code)


def test_a_body_nested_within_the_limit_is_still_read(client, manager):
    nested = {"name": "x"}
    for _ in range(20):
        nested = {"a": nested}
    response = client.post("/api/v1/farms", json={"name": "农场", "lat": 1, "lon": 1, "extra": nested},
                           headers=manager)
    # read, then refused for its unknown field: the depth alone did not refuse it
    assert assert_error_shape(response, 422)["fields"].keys() == {"extra"}


@pytest.mark.parametrize("path, field", [
    ("/api/v1/stock/ledger?before_id=" + "9" * 30, "before_id"),
    ("/api/v1/stock/ledger?before_id=9223372036854775808", "before_id"),
    ("/api/v1/pickups?page=" + "1" + "0" * 30, "page"),
    ("/api/v1/pickups?page=-" + "9" * 30, "page"),
    ("/api/v1/farms?page=" + "1" + "0" * 30, "page"),
    ("/api/v1/pickups?page_size=" + "1" + "0" * 30, "page_size"),
    ("/api/v1/platform-messages?status=" + "x" * 1000, "status"),
])
def test_huge_integers_and_long_text_in_query_parameters_are_a_422_naming_the_parameter(client, manager, path,
                                                                                          field):
    error = assert_error_shape(client.get(path, headers=manager), 422)
    assert field in error["fields"]


def test_the_largest_64_bit_query_integer_is_answered(client, manager):
    assert client.get("/api/v1/stock/ledger?before_id=9223372036854775807", headers=manager).status_code == 200
    assert client.get("/api/v1/pickups?page=9223372036854775807", headers=manager).status_code == 200
    assert client.get("/api/v1/farms?page=9223372036854775807", headers=manager).get_json() == []


def test_a_body_beyond_the_size_limit_is_a_413_in_the_error_shape(client, manager, settings):
    big = b'{"name": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    assert assert_error_shape(client.post("/api/v1/farms", data=big, headers={
        **manager, "Content-Type": "application/json"}), 413)["code"] == "body_too_large"
    digest = hmac.new(b"shop-secret", big, hashlib.sha256).hexdigest()
    assert_error_shape(client.post("/api/v1/webhooks/testshop", data=big, headers={
        "X-Signature": f"sha256={digest}", "Content-Type": "application/json"}), 413)

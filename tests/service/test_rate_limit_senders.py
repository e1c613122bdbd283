"""Rate limits count a sender as the body guard does: an IPv4 address (also written IPv4-mapped) and an
IPv6 /64, so a subscriber holding a /64 cannot get around a limit by changing addresses within it."""
from __future__ import annotations

import pytest

from supply.netaddr import sender
from tests.service.test_rate_limits import (BAD_TOKEN, SKU, assert_rate_limited, make_client, push,  # noqa: F401
                                            seeded)


def at(address: str) -> dict:
    return {"REMOTE_ADDR": address}


def test_failed_authentications_are_counted_per_ipv6_64(make_client, manager, caplog):
    client = make_client(rate_limit_unauthenticated="3 per minute")
    for n in (1, 2, 3):
        assert client.get("/api/v1/products", headers=BAD_TOKEN,
                          environ_base=at(f"2001:db8:1:2::{n}")).status_code == 401
    # A fourth address in the same /64 is the same sender: over the limit, even with a valid token.
    assert_rate_limited(client.get("/api/v1/products", headers=BAD_TOKEN, environ_base=at("2001:db8:1:2:ffff::9")))
    assert "refusing 2001:db8:1:2:ffff::9 until its failed-authentication window ends " \
           "(and all of 2001:db8:1:2::/64, counted as one sender)" in caplog.text
    assert_rate_limited(client.get("/api/v1/products", headers=manager, environ_base=at("2001:db8:1:2:abcd::1")))
    # The order fast lane reads the address before Flask does: it refuses the whole /64 too.
    order = {"platform": "douyin", "external_id": "from-the-64", "lines": [{"sku": SKU, "quantity": 1}]}
    assert_rate_limited(client.post("/api/v1/orders", headers=manager, json=order,
                                    environ_base=at("2001:db8:1:2::77")))
    # The next /64 is another sender.
    assert client.get("/api/v1/products", headers=manager, environ_base=at("2001:db8:1:3::1")).status_code == 200


def test_an_ipv4_mapped_address_is_counted_with_its_ipv4_address(make_client, manager):
    client = make_client(rate_limit_unauthenticated="2 per minute")
    assert client.get("/api/v1/farms", headers=BAD_TOKEN, environ_base=at("203.0.113.7")).status_code == 401
    assert client.get("/api/v1/farms", headers=BAD_TOKEN,
                      environ_base=at("::ffff:203.0.113.7")).status_code == 401
    assert_rate_limited(client.get("/api/v1/farms", headers=BAD_TOKEN, environ_base=at("::ffff:203.0.113.7")))
    assert_rate_limited(client.get("/api/v1/farms", headers=manager, environ_base=at("203.0.113.7")))
    assert_rate_limited(client.get("/api/v1/farms", headers=manager, environ_base=at("::ffff:203.0.113.7")))
    # IPv4 addresses are not grouped: the neighbour is another sender.
    assert client.get("/api/v1/farms", headers=manager, environ_base=at("203.0.113.8")).status_code == 200


def test_pushes_are_counted_per_ipv6_64(make_client, seeded):
    client = make_client(rate_limit_webhooks="2 per minute")
    assert push(client, "v6-0", environ=at("2001:db8:5:6::1")).status_code == 200
    assert push(client, "v6-1", environ=at("2001:db8:5:6::2")).status_code == 200
    assert_rate_limited(push(client, "v6-2", environ=at("2001:db8:5:6:1234:5678:9abc:def0")))
    assert push(client, "v6-3", environ=at("2001:db8:5:7::1")).status_code == 200


@pytest.mark.parametrize("address, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::", "2001:db8:1:2::/64"),
    ("::1", "::/64"),
    ("unknown", "unknown"),
    ("not:an:address", "not:an:address"),
])
def test_sender(address, counted_as):
    assert sender(address) == counted_as


def test_the_body_guard_and_the_rate_limits_share_one_sender():
    from supply.api import limits
    from supply import server

    assert server.sender is sender and limits.sender is sender

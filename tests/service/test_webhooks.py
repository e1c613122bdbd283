"""Signed platform pushes: verified on the raw body, each event stored once, nothing stored when unsigned."""
from __future__ import annotations

import hashlib
import hmac
import json

from tests.helpers import make_farm, make_product, stock


def signed(body: dict, secret: str = "shop-secret") -> tuple[bytes, dict]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def paid(external_id: str, quantity: int, sku: str = "NOODLE-500") -> dict:
    return {"type": "order.paid", "order": {"platform": "testshop", "external_id": external_id,
                                            "lines": [{"sku": sku, "quantity": quantity}]}}


def reserved(client, manager) -> int:
    return client.get("/api/v1/products/NOODLE-500/availability", headers=manager).get_json()["reserved"]


def setup(client, manager, quantity=10):
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], "NOODLE-500", quantity)


def test_a_signed_push_reserves_and_a_resent_push_changes_nothing(client, manager):
    setup(client, manager)
    raw, headers = signed({"events": [paid("w-1", 3), paid("w-2", 2)]})
    first = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert first.status_code == 200
    assert [r["status"] for r in first.get_json()["results"]] == ["applied", "applied"]
    again = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate_message", "duplicate_message"]
    assert reserved(client, manager) == 5


def test_an_unsigned_or_badly_signed_push_is_refused_and_stores_nothing(client, manager):
    setup(client, manager)
    raw, headers = signed({"events": [paid("w-1", 3)]}, secret="not-the-secret")
    for sent in (headers, {"Content-Type": "application/json"}):
        response = client.post("/api/v1/webhooks/testshop", data=raw, headers=sent)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in ("bad_signature", "unauthorized")
    assert reserved(client, manager) == 0
    messages = client.get("/api/v1/platform-messages", headers=manager).get_json()
    assert messages == []


def test_a_tampered_body_is_refused(client, manager):
    setup(client, manager)
    raw, headers = signed({"events": [paid("w-1", 3)]})
    tampered = raw.replace(b'"quantity": 3', b'"quantity": 9')
    assert client.post("/api/v1/webhooks/testshop", data=tampered, headers=headers).status_code == 401
    assert reserved(client, manager) == 0


def test_cancel_after_paid_releases_and_cancel_before_paid_wins(client, manager):
    setup(client, manager)
    raw, headers = signed({"events": [paid("w-1", 3),
                                      {"type": "order.cancelled", "order": {"platform": "testshop",
                                                                            "external_id": "w-1", "lines": []}},
                                      {"type": "order.cancelled", "order": {"platform": "testshop",
                                                                            "external_id": "w-2", "lines": []}},
                                      paid("w-2", 4)]})
    response = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert results[1]["order_status"] == "cancelled"
    assert results[3]["status"] == "duplicate_order" and results[3]["order_status"] == "cancelled"
    assert reserved(client, manager) == 0


def test_a_push_short_of_stock_is_rejected_with_a_reason_and_stored(client, manager):
    setup(client, manager, quantity=2)
    raw, headers = signed({"events": [paid("w-9", 5)]})
    result = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers).get_json()["results"][0]
    assert result["status"] == "rejected" and result["error"]["code"] == "insufficient_stock"
    messages = client.get("/api/v1/platform-messages", headers=manager).get_json()
    assert [m["status"] for m in messages] == ["rejected"]


def test_an_unknown_platform_is_not_found(client):
    raw, headers = signed({"events": []})
    response = client.post("/api/v1/webhooks/nosuchshop", data=raw, headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_platform_messages_are_read_page_by_page_newest_first(client, manager):
    setup(client, manager, quantity=100)
    raw, headers = signed({"events": [paid(f"p-{i}", 1) for i in range(7)]})
    assert client.post("/api/v1/webhooks/testshop", data=raw, headers=headers).status_code == 200
    seen, before = [], None
    while True:
        query = "?page_size=3" + (f"&before_id={before}" if before else "")
        page = client.get("/api/v1/platform-messages" + query, headers=manager).get_json()
        seen += page
        if len(page) < 3:
            break
        before = page[-1]["id"]
    ids = [m["id"] for m in seen]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True) and len(set(ids)) == 7
    refused = client.get("/api/v1/platform-messages?before_id=0", headers=manager)
    assert refused.status_code == 422 and "before_id" in refused.get_json()["error"]["fields"]

"""Signatures that cover the whole message: a push whose signature leaves fields uncovered (Youzan's
legacy `sign` over `msg` alone) is refused by default; allowed by configuration, nothing uncovered is
acted on, so a captured push replayed or altered can never cancel an order."""
from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest

from config import Settings
from tests.helpers import stocked_farm

YOUZAN = {"client_id": "yz-client", "client_secret": "yz-secret"}
TRADE = {"full_order_info": {
    "order_info": {"tid": "E2026", "status": "WAIT_SELLER_SEND_GOODS", "pay_time": "2026-06-18 20:15:40",
                   "update_time": "2026-06-18 20:15:41"},
    "orders": [{"item_id": 4123, "sku_id": 36123, "num": 2}], "pay_info": {"payment": "19.90"}}}


def legacy_push(push_type="trade_TradePaid", version=1718712941, trade=TRADE, **extra) -> bytes:
    msg = quote(json.dumps(trade, ensure_ascii=False))
    sign = hashlib.md5(f"{YOUZAN['client_id']}{msg}{YOUZAN['client_secret']}".encode()).hexdigest()
    return json.dumps({"client_id": YOUZAN["client_id"], "id": "E2026", "kdt_id": 160, "mode": 1, "test": False,
                       "type": push_type, "version": version, "msg": msg, "sign": sign, **extra}).encode()


def app_with(db, database_url, **youzan):
    from supply.app import create_app
    from supply.wiring import build_services

    settings = Settings(database_url=database_url, platform_secrets={"youzan": {**YOUZAN, **youzan}})
    return create_app(settings, services=build_services(settings, db=db)).test_client()


def reserved(client, manager) -> int:
    return client.get("/api/v1/products/NOODLE-500/availability", headers=manager).get_json()["reserved"]


def test_a_legacy_signed_youzan_push_is_refused_by_default_and_stores_nothing(client, manager, db, database_url):
    youzan = app_with(db, database_url)
    response = youzan.post("/api/v1/webhooks/youzan", data=legacy_push(), headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert "covers msg only" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/platform-messages", headers=manager).get_json() == []


@pytest.mark.parametrize("altered", [
    {"push_type": "trade_TradeClose"},
    {"push_type": "trade_TradeClose", "version": 9_999_999_999, "msg_id": "replayed-1"},
    {"push_type": "trade_refund_RefundSuccess", "version": 9_999_999_999},
])
def test_a_captured_legacy_push_altered_or_replayed_never_cancels_the_order(client, manager, db, database_url,
                                                                             altered):
    stocked_farm(client, manager, 10)
    assert client.post("/api/v1/platform-products", headers=manager, json={
        "platform": "youzan", "product_ref": "36123", "sku": "NOODLE-500"}).status_code == 201
    youzan = app_with(db, database_url, allow_legacy_sign=True)
    headers = {"Content-Type": "application/json"}
    paid = youzan.post("/api/v1/webhooks/youzan", data=legacy_push(), headers=headers)
    assert paid.status_code == 200 and reserved(client, manager) == 2
    attack = youzan.post("/api/v1/webhooks/youzan", data=legacy_push(**altered), headers=headers)
    assert attack.status_code == 200   # acknowledged (the platform stops), but nothing uncovered acted on
    assert reserved(client, manager) == 2
    statuses = [m["status"] for m in client.get("/api/v1/platform-messages", headers=manager).get_json()]
    assert "applied" in statuses and statuses.count("applied") == 1
    assert set(statuses) <= {"applied", "refused", "duplicate_message"}, statuses


def test_a_legacy_push_whose_signed_status_says_closed_cancels(client, manager, db, database_url):
    stocked_farm(client, manager, 10)
    assert client.post("/api/v1/platform-products", headers=manager, json={
        "platform": "youzan", "product_ref": "36123", "sku": "NOODLE-500"}).status_code == 201
    youzan = app_with(db, database_url, allow_legacy_sign=True)
    headers = {"Content-Type": "application/json"}
    assert youzan.post("/api/v1/webhooks/youzan", data=legacy_push(), headers=headers).status_code == 200
    closed = json.loads(json.dumps(TRADE))
    closed["full_order_info"]["order_info"].update(status="TRADE_CLOSED", update_time="2026-06-18 21:00:00")
    response = youzan.post("/api/v1/webhooks/youzan", data=legacy_push("trade_TradeClose", trade=closed),
                           headers=headers)
    assert response.status_code == 200
    assert reserved(client, manager) == 0   # the platform signed that the trade closed

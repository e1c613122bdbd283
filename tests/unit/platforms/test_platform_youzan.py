"""Bodies follow the Youzan push format: an object with type, id, kdt_id, status, version and msg
(the trade as URL-encoded JSON)."""
import hashlib
import json
from urllib.parse import quote, urlencode

import pytest

from supply.platforms import InvalidSignature, get_adapter
from tests.helpers import refused_field

CLIENT_ID = "b1f5c0a0e7d3a9c2f1"
CLIENT_SECRET = "yz-secret-93ac"

TRADE = {
    "full_order_info": {
        "order_info": {
            "tid": "E20260618201503012345678",
            "created": "2026-06-18 20:15:03",
            "pay_time": "2026-06-18 20:15:40",
            "update_time": "2026-06-18 20:15:41",
            "status": "WAIT_SELLER_SEND_GOODS",
        },
        "orders": [
            {"item_id": 412345678, "sku_id": 36123456, "num": 2, "title": "甘南苦荞面 500克",
             "outer_sku_id": "KQM-500G", "payment": "39.80"},
            {"item_id": 412345999, "sku_id": 0, "num": "1", "title": "昭苏马奶酒 礼盒装", "payment": "88.00"},
        ],
        "pay_info": {"payment": "127.80", "total_fee": "127.80", "post_fee": "0.00"},
        "buyer_info": {"buyer_phone": "13800138000", "fans_nickname": "草原上的云"},
        "address_info": {"receiver_name": "阿依古丽", "receiver_tel": "13912345678",
                         "delivery_province": "新疆维吾尔自治区", "delivery_city": "伊犁哈萨克自治州",
                         "delivery_district": "昭苏县", "delivery_address": "团结路8号"},
    }
}


def push(push_type="trade_TradePaid", trade=TRADE, version=1718712941, status="WAIT_SELLER_SEND_GOODS", **extra):
    body = {
        "client_id": CLIENT_ID, "id": trade["full_order_info"]["order_info"]["tid"] if "full_order_info" in trade else "E1",
        "kdt_id": 160, "kdt_name": "昭苏县农合社小店", "mode": 1, "sendCount": 0, "status": status,
        "test": False, "type": push_type, "version": version,
        "msg": quote(json.dumps(trade, ensure_ascii=False)),
    }
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def event_sign(raw, client_id=CLIENT_ID, client_secret=CLIENT_SECRET):
    return hashlib.md5(client_id.encode() + raw + client_secret.encode()).hexdigest()


def headers_for(raw, **kwargs):
    return {"Client-Id": CLIENT_ID, "Event-Type": "trade_TradePaid", "Event-Sign": event_sign(raw, **kwargs)}


@pytest.fixture
def adapter():
    return get_adapter("youzan", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})


def test_accepts_the_md5_of_client_id_body_and_secret(adapter):
    raw = push()
    adapter.verify(headers_for(raw), raw)
    adapter.verify({"event-sign": event_sign(raw)}, raw)


def test_refuses_a_wrong_signature_a_missing_header_and_a_tampered_body(adapter):
    raw = push()
    with pytest.raises(InvalidSignature):
        adapter.verify({"Client-Id": CLIENT_ID, "Event-Sign": "f" * 32}, raw)
    with pytest.raises(InvalidSignature):
        adapter.verify({"Client-Id": CLIENT_ID}, raw)
    with pytest.raises(InvalidSignature):
        adapter.verify(headers_for(raw), raw.replace(b'"kdt_id": 160', b'"kdt_id": 161'))
    with pytest.raises(InvalidSignature):
        adapter.verify(headers_for(raw, client_secret="not-ours"), raw)
    with pytest.raises(InvalidSignature):
        adapter.verify(dict(headers_for(raw), **{"Client-Id": "someone-else"}), raw)


UPDATE_TIME = 1781784941   # TRADE's update_time, 2026-06-18 20:15:41 in China Standard Time


@pytest.fixture
def legacy_adapter():
    return get_adapter("youzan", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "allow_legacy_sign": True})


def legacy_sign(trade=TRADE):
    msg = quote(json.dumps(trade, ensure_ascii=False))
    return msg, hashlib.md5(f"{CLIENT_ID}{msg}{CLIENT_SECRET}".encode()).hexdigest()


def test_the_legacy_sign_over_msg_alone_is_refused_by_default_even_when_right(adapter):
    msg, sign = legacy_sign()
    with pytest.raises(InvalidSignature) as err:
        adapter.verify({}, push(sign=sign))
    assert "covers msg only" in err.value.message


def test_the_legacy_sign_field_is_accepted_when_allowed_and_checked_against_msg(legacy_adapter):
    msg, sign = legacy_sign()
    legacy_adapter.verify({}, push(sign=sign))
    with pytest.raises(InvalidSignature):
        legacy_adapter.verify({}, push(sign="0" * 32))
    form = urlencode({"type": "trade_TradePaid", "id": "E1", "msg": msg, "sign": sign}).encode()
    legacy_adapter.verify({}, form)
    (paid,) = legacy_adapter.parse(form)
    assert paid.kind == "paid"   # the signed order status WAIT_SELLER_SEND_GOODS confirms it
    assert paid.version == UPDATE_TIME   # the signed update_time, not the unsigned version field


def test_a_legacy_push_retyped_as_a_close_or_with_a_new_version_changes_nothing_it_did_not_sign(legacy_adapter):
    msg, sign = legacy_sign()
    (genuine,) = legacy_adapter.parse(push(sign=sign))
    (retyped,) = legacy_adapter.parse(push("trade_TradeClose", sign=sign, version=9_999_999_999))
    assert retyped.kind == "refused" and retyped.refusal["field"] == "type"
    (revisioned,) = legacy_adapter.parse(push(sign=sign, version=9_999_999_999, msg_id="another"))
    # the version and the message id come from the signed msg: the replay is the same message
    assert (revisioned.version, revisioned.message_id) == (genuine.version, genuine.message_id)
    assert genuine.version == UPDATE_TIME
    untold = {"full_order_info": {"order_info": {"status": "TRADE_CLOSED"}}}   # a signed msg naming no order
    msg, sign = legacy_sign(untold)
    body = json.dumps({"type": "trade_TradeClose", "id": "E-someone-else", "version": 1, "msg": msg, "sign": sign})
    (renamed,) = legacy_adapter.parse(body.encode())
    assert renamed.kind == "refused" and renamed.refusal["field"] == "id"


def test_parses_a_paid_trade_with_lines_amount_and_version(adapter):
    (paid,) = adapter.parse(push())
    assert paid.kind == "paid"
    assert paid.external_order_id == "E20260618201503012345678"
    assert [(line.product_ref, line.quantity) for line in paid.lines] == [("36123456", 2), ("412345999", 1)]
    assert paid.amount_fen == 12780
    assert paid.version == 1718712941
    assert paid.occurred_at.isoformat() == "2026-06-18T20:15:40+08:00"
    assert not paid.needs_order_detail


def test_buyer_and_address_are_kept_apart_from_raw(adapter):
    (paid,) = adapter.parse(push())
    assert paid.buyer["address_info"]["receiver_name"] == "阿依古丽"
    assert paid.buyer["buyer_info"]["buyer_phone"] == "13800138000"
    text = json.dumps(paid.raw, ensure_ascii=False)
    assert "阿依古丽" not in text and "13800138000" not in text
    assert "甘南苦荞面 500克" in text


@pytest.mark.parametrize("push_type, kind", [
    ("trade_TradeCreate", "created"),
    ("trade_TradePaid", "paid"),
    ("trade_TradeBuyerPay", "paid"),
    ("trade_TradeClose", "cancelled"),
    ("trade_refund_RefundSuccess", "refunded"),
    ("REFUND_RefundSuccess", "refunded"),
    ("trade_TradeSellerShip", "other"),
])
def test_maps_push_types_to_kinds(adapter, push_type, kind):
    assert adapter.parse(push(push_type))[0].kind == kind


def test_a_re_push_has_the_same_message_id_and_a_newer_version_overrides(adapter):
    first, again = adapter.parse(push())[0], adapter.parse(push(sendCount=1))[0]
    assert first.message_id == again.message_id
    newer = adapter.parse(push("trade_TradeClose", version=1718799999))[0]
    assert newer.version > first.version and newer.message_id != first.message_id
    assert adapter.parse(push(msg_id="yz-msg-1"))[0].message_id == "yz-msg-1"


def test_without_a_version_the_update_time_orders_events(adapter):
    (paid,) = adapter.parse(push(version=None))
    assert paid.version == 1781784941  # 2026-06-18 20:15:41 +08:00


def test_a_close_message_without_order_lines_still_names_the_order(adapter):
    close = {"tid": "E20260618201503012345678", "close_type": 1, "update_time": "2026-06-18 21:00:00"}
    (closed,) = adapter.parse(push("trade_TradeClose", trade=close, version=None))
    assert closed.kind == "cancelled" and closed.external_order_id == "E20260618201503012345678"
    assert closed.lines == ()


def test_msg_may_arrive_as_plain_json(adapter):
    raw = json.dumps({"type": "trade_TradePaid", "id": "E1", "msg": json.dumps(TRADE, ensure_ascii=False)},
                     ensure_ascii=False).encode()
    assert adapter.parse(raw)[0].amount_fen == 12780


def test_a_test_push_is_a_ping(adapter):
    assert adapter.parse(push(test=True))[0].kind == "ping"


def broken(path, value):
    trade = json.loads(json.dumps(TRADE))
    target = trade
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return push(trade=trade)


@pytest.mark.parametrize("raw, field", [
    (b"[1, 2]", "body"),
    (b"{oops", "body"),
    (json.dumps({"id": "E1", "msg": "{}"}).encode(), "type"),
    (json.dumps({"type": "trade_TradePaid", "id": "E1"}).encode(), "msg"),
    (json.dumps({"type": "trade_TradePaid", "id": "E1", "msg": "%7Bbroken"}).encode(), "msg"),
    (broken(["full_order_info", "orders"], {"item_id": 1}), "msg.full_order_info.orders"),
    (broken(["full_order_info", "orders", 0, "num"], 0), "msg.full_order_info.orders[0].num"),
    (broken(["full_order_info", "pay_info", "payment"], "一百"), "msg.full_order_info.pay_info.payment"),
    (broken(["full_order_info", "order_info", "pay_time"], "昨天"), "msg.full_order_info.order_info.pay_time"),
])
def test_malformed_bodies_name_the_field(adapter, raw, field):
    assert refused_field(adapter, raw) == field


def test_acknowledges_with_code_zero(adapter):
    assert adapter.acknowledge() == ({"code": 0, "msg": "success"}, 200)


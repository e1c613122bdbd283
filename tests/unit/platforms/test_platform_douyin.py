"""Bodies follow the Douyin shop push format: a JSON list of {tag, msg_id, data-as-JSON-string}."""
import hashlib
import json

import pytest

from supply.platforms import InvalidSignature, get_adapter
from tests.helpers import refused_field

APP_KEY = "7012345678901234567"
APP_SECRET = "dy-app-secret-5f2c"


def message(tag, msg_id, data):
    return {"tag": str(tag), "msg_id": msg_id, "data": json.dumps(data, ensure_ascii=False)}


def body_of(*messages):
    return json.dumps(list(messages), ensure_ascii=False).encode("utf-8")


def headers_for(raw, app_key=APP_KEY, app_secret=APP_SECRET):
    sign = hashlib.md5(app_key.encode() + raw + app_secret.encode()).hexdigest()
    return {"app-id": app_key, "event-sign": sign}


CREATED = message(100, "7151234567890123001", {
    "p_id": 4837328765348566675, "s_ids": [4837328765348566676], "shop_id": 77977,
    "order_status": 1, "order_type": 0, "biz": 2, "create_time": 1718712000,
})
PAID = message(101, "7151234567890123002", {
    "p_id": 4837328765348566675, "s_ids": [4837328765348566676], "shop_id": 77977, "order_status": 2,
    "order_type": 0, "pay_time": 1718712060, "pay_amount": 1990, "pay_type": 1, "biz": 2,
})
CANCELLED = message(106, "7151234567890123003", {
    "p_id": 4837328765348566675, "s_ids": [4837328765348566676], "shop_id": 77977, "order_status": 4,
    "cancel_time": 1718712600, "cancel_reason": "买家不想要了",
})
ADDRESS_CHANGED = message(105, "7151234567890123004", {
    "p_id": 4837328765348566675, "shop_id": 77977, "update_time": 1718712300,
    "receiver_msg": {"name": "李桂兰", "tel": "13912345678", "addr": "甘肃省定西市渭源县"},
})
REFUNDED = message(206, "7151234567890123005", {
    "p_id": 4837328765348566675, "s_id": 4837328765348566676, "shop_id": 77977, "aftersale_id": 7001,
    "aftersale_status": 12, "aftersale_type": 2, "refund_amount": 1990, "success_time": 1718799999,
})
REFUND_REQUESTED = message(200, "7151234567890123006", {
    "p_id": 4837328765348566675, "s_id": 4837328765348566676, "aftersale_id": 7001, "apply_time": 1718790000,
})


@pytest.fixture
def adapter():
    return get_adapter("douyin", {"app_key": APP_KEY, "app_secret": APP_SECRET})


def test_accepts_the_md5_of_app_key_body_and_secret(adapter):
    raw = body_of(PAID)
    adapter.verify(headers_for(raw), raw)
    upper = {"App-Id": APP_KEY, "Event-Sign": headers_for(raw)["event-sign"].upper()}
    adapter.verify(upper, raw)


def test_refuses_a_wrong_signature_a_missing_header_and_a_tampered_body(adapter):
    raw = body_of(PAID)
    good = headers_for(raw)
    with pytest.raises(InvalidSignature):
        adapter.verify({"app-id": APP_KEY, "event-sign": "0" * 32}, raw)
    with pytest.raises(InvalidSignature):
        adapter.verify({"app-id": APP_KEY}, raw)
    with pytest.raises(InvalidSignature):
        adapter.verify({"event-sign": good["event-sign"]}, raw)
    with pytest.raises(InvalidSignature):
        adapter.verify(good, raw.replace(b"1990", b"1"))
    with pytest.raises(InvalidSignature):
        adapter.verify(headers_for(raw, app_secret="someone-else"), raw)
    with pytest.raises(InvalidSignature):
        adapter.verify(dict(good, **{"sign-method": "hmac-sha256"}), raw)


def test_maps_tags_to_kinds(adapter):
    events = adapter.parse(body_of(CREATED, PAID, CANCELLED, ADDRESS_CHANGED, REFUNDED, REFUND_REQUESTED))
    assert [e.kind for e in events] == ["created", "paid", "cancelled", "other", "refunded", "other"]
    assert {e.external_order_id for e in events} == {"4837328765348566675"}
    assert all(e.platform == "douyin" and e.lines == () for e in events)


def test_paid_message_carries_no_lines_so_the_order_needs_its_detail(adapter):
    paid = adapter.parse(body_of(PAID))[0]
    assert paid.needs_order_detail
    assert paid.amount_fen == 1990
    assert paid.version == 1718712060
    assert paid.occurred_at.timestamp() == 1718712060
    assert paid.message_id == "7151234567890123002"


def test_later_steps_have_higher_versions(adapter):
    created, paid, cancelled = adapter.parse(body_of(CREATED, PAID, CANCELLED))
    assert created.version < paid.version < cancelled.version


def test_a_repeated_message_has_the_same_message_id(adapter):
    first, again = adapter.parse(body_of(PAID, PAID))
    assert first.message_id == again.message_id
    assert first == again


def test_receiver_details_are_kept_apart_from_raw(adapter):
    changed = adapter.parse(body_of(ADDRESS_CHANGED))[0]
    assert changed.buyer == {"receiver_msg": {"name": "李桂兰", "tel": "13912345678", "addr": "甘肃省定西市渭源县"}}
    assert "receiver_msg" not in changed.raw["data"]
    assert "李桂兰" not in json.dumps(changed.raw, ensure_ascii=False)


def test_refund_success_carries_the_refund_amount(adapter):
    refunded = adapter.parse(body_of(REFUNDED))[0]
    assert refunded.amount_fen == 1990 and refunded.version == 1718799999


def test_tag_zero_is_a_ping(adapter):
    ping = adapter.parse(body_of({"tag": "0", "msg_id": "0", "data": "2026-06-18T10:00:00+08:00"}))[0]
    assert ping.kind == "ping" and ping.external_order_id is None


def test_accepts_the_msgId_spelling_and_a_data_object(adapter):
    event = adapter.parse(body_of({"tag": 101, "msgId": "m-1", "data": {"p_id": "P9", "pay_amount": 500}}))[0]
    assert event.message_id == "m-1" and event.kind == "paid" and event.amount_fen == 500


@pytest.mark.parametrize("raw, field", [
    (b"{not json", "body"),
    (b'{"tag": "101"}', "body"),
    (body_of("oops"), "[0]"),
    (body_of({"msg_id": "1", "data": "{}"}), "[0].tag"),
    (body_of({"tag": "101", "data": "{}"}), "[0].msgId"),
    (body_of({"tag": "101", "msg_id": "1", "data": "{broken"}), "[0].data"),
    (body_of({"tag": "101", "msg_id": "1", "data": "[]"}), "[0].data"),
    (body_of(message(101, "1", {"pay_amount": 1990})), "[0].data.p_id"),
    (body_of(message(101, "1", {"p_id": 1, "pay_amount": "十九元"})), "[0].data.pay_amount"),
])
def test_malformed_bodies_name_the_field(adapter, raw, field):
    assert refused_field(adapter, raw) == field


def test_acknowledges_as_the_sdk_example_does(adapter):
    assert adapter.acknowledge([]) == ({"code": 0, "msg": "success"}, 200)


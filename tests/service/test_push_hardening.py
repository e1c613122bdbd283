"""A signed push is never lost to one bad event: every platform format, values at and beyond every
column's limit mixed with good events. Never a 500, the good events always recorded, each bad one
stored as refused with its reason and raw event, nothing half-written."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import func, select

from config import Settings
from supply.db.models import Order, OrderLine, PlatformMessage, ProductBalance
from tests.helpers import make_farm, make_product, stock

DOUYIN = {"app_key": "dy-key", "app_secret": "dy-secret"}
YOUZAN = {"client_id": "yz-client", "client_secret": "yz-secret"}
KS_KEY = bytes(range(16))
KUAISHOU = {"app_key": "ks-app", "message_key": base64.b64encode(KS_KEY).decode()}
SKU = "NOODLE-500"
SERIAL = itertools.count()


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, platform_secrets={
        "testshop": "shop-secret", "douyin": DOUYIN, "youzan": YOUZAN, "kuaishou": KUAISHOU})


@pytest.fixture
def stocked(client, manager):
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], SKU, 10_000_000)


# -- values at and beyond the limits ------------------------------------------------------------

LIMIT_IDS = st.sampled_from(["x" * 128, "x" * 129, "y" * 200, "z" * 201, "s" * 64, "s" * 65, "a\x00b", "\x00",
                             "tab\there", "", " ", "\u200b", "订单" * 70, "\ud800", "ok\x7f"])
ODD = st.one_of(
    LIMIT_IDS,
    st.sampled_from([True, False, None, 0, -1, 1_000_000, 1_000_001, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
                     10**30, -2**63 - 1, 1.5, 1e300, [], {}, [1], {"a": 1}, "1" * 40,
                     [{"sku": "NOODLE-500", "quantity": 1}] * 101, [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]),
    st.text(max_size=300),
    st.integers(),
)


def signed_generic(body) -> tuple[bytes, dict]:
    raw = json.dumps(body, ensure_ascii=True).encode()
    digest = hmac.new(b"shop-secret", raw, hashlib.sha256).hexdigest()
    return raw, {"X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def generic_event(n: int) -> dict:
    return {"type": "order.paid", "id": f"g-{n}", "version": 1,
            "order": {"platform": "testshop", "external_id": f"go-{n}", "lines": [{"sku": SKU, "quantity": 1}]}}


GENERIC_SPOTS = [("id",), ("version",), ("type",), ("order", "external_id"), ("order", "platform"),
                 ("order", "stream_id"), ("order", "buyer"), ("order", "lines", 0, "sku"),
                 ("order", "lines", 0, "quantity"), ("order", "lines"), ("order", "note")]


def put(target, path, value):
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def douyin_message(n: int) -> dict:
    return {"tag": "101", "msg_id": f"dy-{n}",
            "data": {"p_id": f"dy-order-{n}", "pay_amount": 1990, "pay_time": 1718712941 + n}}


DOUYIN_SPOTS = [("tag",), ("msg_id",), ("data", "p_id"), ("data", "pay_amount"), ("data", "pay_time"),
                ("data", "extra")]


def douyin_body(messages) -> bytes:
    return json.dumps([dict(m, data=json.dumps(m["data"], ensure_ascii=False)) if isinstance(m.get("data"), dict)
                       else m for m in messages], ensure_ascii=True).encode()


def douyin_headers(raw: bytes) -> dict:
    sign = hashlib.md5(DOUYIN["app_key"].encode() + raw + DOUYIN["app_secret"].encode()).hexdigest()
    return {"app-id": DOUYIN["app_key"], "event-sign": sign, "Content-Type": "application/json"}


def youzan_push(n: int) -> dict:
    return {"type": "trade_TradePaid", "id": f"yz-{n}", "msg_id": f"yzm-{n}", "version": 1700000000 + n,
            "msg": {"full_order_info": {"order_info": {"tid": f"yz-order-{n}", "pay_time": "2026-06-18 20:15:40"},
                                        "orders": [{"item_id": 4123, "sku_id": 36123, "num": 2}],
                                        "pay_info": {"payment": "39.80"}}}}


YOUZAN_SPOTS = [("msg_id",), ("version",), ("msg", "full_order_info", "order_info", "tid"),
                ("msg", "full_order_info", "orders", 0, "num"), ("msg", "full_order_info", "orders", 0, "sku_id"),
                ("msg", "full_order_info", "pay_info", "payment"), ("msg", "full_order_info", "orders")]


def youzan_signed(push: dict) -> tuple[bytes, dict]:
    body = dict(push, msg=json.dumps(push["msg"], ensure_ascii=False)) if isinstance(push["msg"], dict) else push
    raw = json.dumps(body, ensure_ascii=True).encode()
    sign = hashlib.md5(YOUZAN["client_id"].encode() + raw + YOUZAN["client_secret"].encode()).hexdigest()
    return raw, {"Event-Sign": sign, "Client-Id": YOUZAN["client_id"], "Content-Type": "application/json"}


def kuaishou_message(n: int) -> dict:
    return {"eventId": f"ks-{n}", "msgId": f"ksm-{n}", "appKey": KUAISHOU["app_key"],
            "event": "kwaishop_order_paySuccess", "createTime": 1773750943589,
            "info": {"oid": 2607602240240301 + n, "status": 30, "updateTime": 1773750960000 + n, "totalFee": 1990}}


KUAISHOU_SPOTS = [("eventId",), ("event",), ("info", "oid"), ("info", "updateTime"), ("info", "totalFee"),
                  ("info", "buyerOpenId")]


def kuaishou_signed(message: dict) -> tuple[bytes, dict]:
    body = dict(message, info=json.dumps(message["info"], ensure_ascii=False)) \
        if isinstance(message.get("info"), dict) else message
    plain = json.dumps(body, ensure_ascii=True).encode()
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(KS_KEY), modes.CBC(bytes(16))).encryptor()
    raw = base64.b64encode(encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize())
    return raw, {"Content-Type": "text/plain"}


def corrupted(template: dict, spot: tuple, value) -> dict:
    event = json.loads(json.dumps(template))
    put(event, spot, value)
    return event


def distinct_messages(platform: str, raw: bytes) -> int:
    from supply.platforms import get_adapter

    config = {"testshop": "shop-secret", "douyin": DOUYIN}[platform]
    return len({(e.platform, e.message_id) for e in get_adapter(platform, config).parse(raw)})


def messages_of(db, predicate) -> list[PlatformMessage]:
    with db.transaction() as session:
        return list(session.execute(select(PlatformMessage).where(predicate)).scalars())


def counts(db) -> tuple[int, int]:
    with db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(PlatformMessage)),
                session.scalar(select(func.count()).select_from(Order)))


def assert_nothing_half_written(db) -> None:
    """Every order has its lines, and the product's reserved figure is the sum of reserved lines."""
    with db.transaction() as session:
        orphan = session.scalar(select(func.count()).select_from(Order).where(~Order.lines.any()))
        reserved = session.scalar(select(func.coalesce(func.sum(OrderLine.reserved), 0)))
        figure = session.scalar(select(func.coalesce(func.sum(ProductBalance.reserved), 0)))
        applied = session.scalar(select(func.count()).select_from(PlatformMessage).where(
            PlatformMessage.platform == "testshop", PlatformMessage.status == "applied"))
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.platform == "testshop"))
    assert orphan == 0
    assert reserved == figure
    assert applied == orders   # each applied message made one order, and nothing else did


HYPOTHESIS = hypothesis_settings(max_examples=10, deadline=None, derandomize=True, database=None,
                                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                        HealthCheck.too_slow])


@HYPOTHESIS
@given(bad=st.lists(st.tuples(st.sampled_from(GENERIC_SPOTS), ODD), min_size=1, max_size=4),
       good=st.integers(1, 4), data=st.data())
def test_a_generic_push_records_its_good_events_whatever_its_bad_ones_hold(db, client, manager, stocked,
                                                                           bad, good, data):
    n = next(SERIAL) * 1000
    goods = [generic_event(n + i) for i in range(good)]
    bads = [dict(corrupted(generic_event(n + 50 + i), spot, value), n=n + 50 + i)
            for i, (spot, value) in enumerate(bad)]
    events = data.draw(st.permutations(goods + bads))
    before = counts(db)
    raw, headers = signed_generic({"events": events})
    response = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data()
    results = response.get_json()["results"]
    assert len(results) == len(events)
    stored = {m.message_id: m for m in messages_of(db, PlatformMessage.message_id.in_([e["id"] for e in goods]) |
                                                    PlatformMessage.message_id.like("refused:%"))}
    for event in goods:
        assert stored[event["id"]].status == "applied"
    for result, event in zip(results, events):
        if event in bads and result["status"] == "refused":
            message = stored[result["message_id"]]
            assert message.status == "refused" and message.result["error"]["fields"]
            assert message.payload["n"] == event["n"]   # the raw event, for the manager
    assert counts(db)[0] - before[0] == distinct_messages("testshop", raw)   # every event stored once
    assert_nothing_half_written(db)


@HYPOTHESIS
@given(bad=st.lists(st.tuples(st.sampled_from(DOUYIN_SPOTS), ODD), min_size=1, max_size=3),
       good=st.integers(1, 3), data=st.data())
def test_a_douyin_push_records_its_good_messages_whatever_its_bad_ones_hold(db, client, manager, bad, good, data):
    n = next(SERIAL) * 1000
    goods = [douyin_message(n + i) for i in range(good)]
    bads = [dict(corrupted(douyin_message(n + 50 + i), spot, value), n=n + 50 + i)
            for i, (spot, value) in enumerate(bad)]
    messages = data.draw(st.permutations(goods + bads))
    before = counts(db)
    raw = douyin_body(messages)
    response = client.post("/api/v1/webhooks/douyin", data=raw, headers=douyin_headers(raw))
    assert response.status_code == 200, response.get_data()
    assert response.get_json() == {"code": 0, "msg": "success"}
    for message in goods:
        (stored,) = messages_of(db, PlatformMessage.message_id == message["msg_id"])
        assert stored.status == "needs_order_detail"
    # every message the adapter read is stored once, none lost (bad ones may share an id: one message)
    assert counts(db)[0] - before[0] == distinct_messages("douyin", raw)
    assert_nothing_half_written(db)


@HYPOTHESIS
@given(spot=st.sampled_from(YOUZAN_SPOTS), value=ODD)
def test_a_youzan_push_with_one_odd_value_is_stored_and_acknowledged_beside_good_ones(db, client, manager,
                                                                                      spot, value):
    n = next(SERIAL) * 1000
    before = counts(db)
    for push in (youzan_push(n), corrupted(youzan_push(n + 1), spot, value), youzan_push(n + 2)):
        raw, headers = youzan_signed(push)
        response = client.post("/api/v1/webhooks/youzan", data=raw, headers=headers)
        assert response.status_code == 200, response.get_data()
        assert response.get_json() == {"code": 0, "msg": "success"}
    for good in (n, n + 2):
        (stored,) = messages_of(db, PlatformMessage.message_id == f"yzm-{good}")
        assert stored.status == "unmapped"
    assert counts(db)[0] - before[0] == 3
    assert_nothing_half_written(db)


@HYPOTHESIS
@given(spot=st.sampled_from(KUAISHOU_SPOTS), value=ODD)
def test_a_kuaishou_message_with_one_odd_value_is_stored_and_acknowledged_beside_good_ones(db, client, manager,
                                                                                           spot, value):
    n = next(SERIAL) * 1000
    before = counts(db)
    for message in (kuaishou_message(n), corrupted(kuaishou_message(n + 1), spot, value), kuaishou_message(n + 2)):
        raw, headers = kuaishou_signed(message)
        response = client.post("/api/v1/webhooks/kuaishou", data=raw, headers=headers)
        assert response.status_code == 200, response.get_data()
        assert response.get_json() == {"result": 1}
    for good in (n, n + 2):
        (stored,) = messages_of(db, PlatformMessage.message_id == f"ks-{good}")
        assert stored.status == "needs_order_detail"
    assert counts(db)[0] - before[0] == 3
    assert_nothing_half_written(db)


def test_a_refused_event_is_listed_for_the_manager_with_its_reason_and_raw_event(db, client, manager, stocked):
    good, bad = generic_event(1), corrupted(generic_event(2), ("order", "external_id"), "x" * 129)
    raw, headers = signed_generic({"events": [bad, good]})
    response = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == ["refused", "applied"]
    listed = client.get("/api/v1/platform-messages?status=refused", headers=manager).get_json()
    assert len(listed) == 1
    assert listed[0]["result"]["error"]["fields"] == {
        "events[0].external_order_id": ["must be at most 128 characters"]}
    assert listed[0]["raw"]["order"]["external_id"] == "x" * 129   # the raw event, as it came
    again = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)   # the platform's retry
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate_message", "duplicate_message"]


def test_a_push_the_database_refuses_is_applied_event_by_event_and_only_the_refused_event_is_lost(
        db, client, manager, stocked, monkeypatch):
    """The safety net under the checks: should the database refuse a value nothing checked, the push is
    applied one event at a time and the event it refuses is stored as refused (here the database's
    refusal is provoked for one event by name; everything else is the real path)."""
    from sqlalchemy.exc import DataError

    from supply.services import platform_messages

    real = platform_messages.apply_platform_events

    def refusing(session, cooperative_id, events, **kwargs):
        if any(e.message_id == "poison" for e in events):
            raise DataError("INSERT ...", {}, Exception("value too long for type character varying(128)"))
        return real(session, cooperative_id, events, **kwargs)

    monkeypatch.setattr(platform_messages, "apply_platform_events", refusing)
    events = [generic_event(900), dict(generic_event(901), id="poison"), generic_event(902)]
    raw, headers = signed_generic({"events": events})
    response = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data()
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "refused", "applied"]
    (refused,) = messages_of(db, PlatformMessage.status == "refused")
    assert refused.payload["id"] == "poison" and "DataError" in refused.result["reason"]
    assert_nothing_half_written(db)

import hashlib
import hmac
import json

import pytest

from supply.platforms import GenericAdapter, InvalidPayload, InvalidSignature, get_adapter
from tests.helpers import refused_field

SECRET = "县合作社-webhook-secret"


def body_of(events):
    return json.dumps({"events": events}, ensure_ascii=False).encode("utf-8")


def signed(raw, secret=SECRET):
    return {"X-Signature": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}


PAID = {
    "type": "order.paid",
    "order": {
        "platform": "hubei-live",
        "external_id": "HB-20260618-0001",
        "stream_id": 7,
        "lines": [{"sku": "KQM-500G", "quantity": 3}, {"sku": "HMJ-1KG", "quantity": 1}],
        "buyer": {"name": "王小明", "phone": "13800138000"},
    },
}


@pytest.fixture
def adapter():
    return get_adapter("hubei-live", SECRET)


def test_a_string_secret_gives_the_generic_format_under_any_name(adapter):
    assert isinstance(adapter, GenericAdapter)
    assert adapter.name == "hubei-live"


def test_accepts_a_body_signed_with_the_secret(adapter):
    raw = body_of([PAID])
    adapter.verify(signed(raw), raw)
    adapter.verify({"x-signature": signed(raw)["X-Signature"].upper().replace("SHA256=", "sha256=")}, raw)


@pytest.mark.parametrize("headers", [
    {},
    {"X-Signature": ""},
    {"X-Signature": "md5=abc"},
    {"X-Signature": "sha256=" + "0" * 64},
])
def test_refuses_missing_or_wrong_signatures(adapter, headers):
    raw = body_of([PAID])
    with pytest.raises(InvalidSignature):
        adapter.verify(headers, raw)


def test_refuses_a_tampered_body_and_another_secret(adapter):
    raw = body_of([PAID])
    headers = signed(raw)
    with pytest.raises(InvalidSignature):
        adapter.verify(headers, raw.replace(b'"quantity": 3', b'"quantity": 300'))
    with pytest.raises(InvalidSignature):
        adapter.verify(signed(raw, "other-secret"), raw)


def test_parses_paid_and_cancelled_events(adapter):
    cancelled = {"type": "order.cancelled", "order": {"platform": "hubei-live", "external_id": "HB-20260618-0002"}}
    paid, cancel = adapter.parse(body_of([PAID, cancelled]))
    assert paid.kind == "paid"
    assert paid.external_order_id == "HB-20260618-0001"
    assert [(line.product_ref, line.quantity) for line in paid.lines] == [("KQM-500G", 3), ("HMJ-1KG", 1)]
    assert paid.buyer == {"name": "王小明", "phone": "13800138000"}
    assert "buyer" not in paid.raw["order"]
    assert cancel.kind == "cancelled" and cancel.lines == ()
    assert not cancel.needs_order_detail


def test_the_same_event_sent_twice_has_the_same_message_id(adapter):
    first, again = adapter.parse(body_of([PAID, PAID]))
    assert first.message_id == again.message_id == "order.paid:hubei-live:HB-20260618-0001"
    with_id = adapter.parse(body_of([dict(PAID, id="evt-42", version=3)]))[0]
    assert with_id.message_id == "evt-42" and with_id.version == 3


def test_an_order_for_another_platform_is_refused_except_on_the_catch_all(adapter):
    other = {"type": "order.paid", "order": dict(PAID["order"], platform="douyin")}
    assert refused_field(adapter, body_of([other])) == "events[0].order.platform"
    assert get_adapter("generic", SECRET).parse(body_of([other]))[0].platform == "douyin"


@pytest.mark.parametrize("raw, field", [
    (b"not json", "body"),
    (b"[]", "body"),
    (b'{"orders": []}', "events"),
    (body_of([{"type": "order.shipped", "order": PAID["order"]}]), "events[0].type"),
    (body_of([{"type": "order.paid"}]), "events[0].order"),
    (body_of([{"type": "order.paid", "order": {"platform": "hubei-live", "lines": []}}]), "events[0].order.external_id"),
    (body_of([{"type": "order.paid", "order": {"external_id": "A1", "lines": []}}]), "events[0].order.lines"),
    (body_of([{"type": "order.paid", "order": {"external_id": "A1", "lines": [{"quantity": 1}]}}]),
     "events[0].order.lines[0].sku"),
    (body_of([{"type": "order.paid", "order": {"external_id": "A1", "lines": [{"sku": "KQM-500G", "quantity": 0}]}}]),
     "events[0].order.lines[0].quantity"),
    (body_of([{"type": "order.paid", "order": {"external_id": "A1", "lines": [{"sku": "KQM-500G", "quantity": "2x"}]}}]),
     "events[0].order.lines[0].quantity"),
])
def test_malformed_bodies_name_the_field(adapter, raw, field):
    assert refused_field(adapter, raw) == field
    try:
        adapter.parse(raw)
    except InvalidPayload as err:
        assert err.fields == {field: [err.reason]}


def test_acknowledges_with_one_result_per_event(adapter):
    assert adapter.acknowledge([{"status": 201}]) == ({"results": [{"status": 201}]}, 200)
    body, status = adapter.reject()
    assert status == 401 and body["error"]["code"] == "invalid_signature"


# --- the plain reading agrees with the checked one ---------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

_odd_ids = st.one_of(st.none(), st.sampled_from(["", " ", " o-1", "o-1 ", "x" * 200]), st.integers(-3, 3),
                     st.booleans(), st.text(max_size=4))
_good_ids = st.sampled_from(["o-1", "订单-7", "A1"])


def _mostly(good, odd):
    return st.one_of(good, odd)


_ids = _mostly(_good_ids, _odd_ids)
_quantities = _mostly(st.integers(1, 5), st.one_of(st.integers(-2, 0), st.booleans(), st.sampled_from(["3", "", None, 2.0])))
_line = _mostly(st.fixed_dictionaries({"sku": _ids, "quantity": _quantities}),
                st.one_of(st.dictionaries(st.sampled_from(["sku", "quantity", "x"]), _ids, max_size=3), _ids))
_lines = _mostly(st.lists(_line, min_size=1, max_size=3), st.one_of(st.just([]), _ids))
_orders = st.fixed_dictionaries(
    {"external_id": _ids},
    optional={"platform": _mostly(st.just("shop"), st.sampled_from(["other", "", None, " shop", 5])),
              "lines": _lines, "buyer": st.one_of(st.none(), st.just({"name": "王"}), st.just("someone")),
              "stream_id": _ids})
_items = _mostly(
    st.fixed_dictionaries({"type": _mostly(st.sampled_from(["order.paid", "order.cancelled"]),
                                           st.sampled_from(["order.shipped", "", None, 3])),
                           "order": _mostly(_orders, _odd_ids)},
                          optional={"id": _ids, "version": st.one_of(st.none(), st.integers(0, 9), st.just("12"))}),
    _odd_ids)


@pytest.mark.parametrize("any_platform", [False, True])
@settings(max_examples=400, deadline=None)
@given(item=_items)
def test_the_plain_reading_of_an_event_is_the_checked_one(any_platform, item):
    """`_plain_event` answers only what `_checked_event` reads, and reads it the same way (the raw
    payload included); on everything else it gives way."""
    adapter = GenericAdapter("shop", "secret", any_platform=any_platform)
    plain = adapter._plain_event(item)
    if plain is None:
        return
    checked = adapter._checked_event(item, "events[0]")
    assert plain == checked
    assert plain.raw == checked.raw and plain.buyer == checked.buyer


_valid_lines = st.lists(st.fixed_dictionaries({"sku": _good_ids, "quantity": st.integers(1, 99)}), min_size=1, max_size=3)
_valid_items = st.fixed_dictionaries(
    {"type": st.just("order.paid"), "order": st.fixed_dictionaries(
        {"external_id": _good_ids, "lines": _valid_lines},
        optional={"platform": st.just("shop"), "buyer": st.one_of(st.none(), st.just({"name": "王", "phone": "1"}))})},
    optional={"id": _good_ids, "version": st.one_of(st.none(), st.integers(0, 2**40))})


@settings(max_examples=200, deadline=None)
@given(item=_valid_items)
def test_a_plainly_valid_event_is_read_plainly_and_as_the_checked_reading(item):
    adapter = GenericAdapter("shop", "secret")
    plain = adapter._plain_event(item)
    assert plain is not None
    checked = adapter._checked_event(item, "events[0]")
    assert plain == checked
    assert plain.raw == checked.raw and plain.buyer == checked.buyer
    assert "buyer" not in plain.raw["order"]


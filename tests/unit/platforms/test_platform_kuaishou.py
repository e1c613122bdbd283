"""Bodies follow the Kuaishou shop push: base64 of AES-CBC (zero IV, PKCS#7) of the message JSON,
keyed with the base64-decoded message secret. Encrypted here with `cryptography` directly."""
import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from supply.platforms import InvalidPayload, InvalidSignature, get_adapter
from tests.helpers import refused_field

APP_KEY = "ks699183844582124027"
RAW_KEY = bytes(range(32, 48))
MESSAGE_KEY = base64.b64encode(RAW_KEY).decode()


def encrypt(message, key=RAW_KEY):
    plain = message if isinstance(message, bytes) else json.dumps(message, ensure_ascii=False).encode()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize())


def order_message(event, info, event_id="243_4027_2375715766426", msg_id="84_2375715766425", **extra):
    message = {
        "eventId": event_id, "msgId": msg_id, "bizId": 2607602240240301, "userId": 2161524184,
        "openId": "f1b68e8f2a4995ed14bf57245903fd9a", "appKey": APP_KEY, "event": event,
        "info": json.dumps(info, ensure_ascii=False), "status": 2,
        "createTime": 1773750943589, "updateTime": 1773750945776, "operator": "2323245113",
    }
    message.update(extra)
    return message


ADD_ORDER = order_message("kwaishop_order_addOrder", {
    "oid": 2607602240240301, "sellerId": 2161524184, "createTime": 1773750942425,
    "customizedInfo": {"customizedItemType": 0, "customizedUrl": "", "customizedCode": ""},
    "openId": "Nb8oPhmFTcwPpYcJdfRnTr70nlt1u2eTFhvicWXG13P", "buyerOpenId": "f1b68e8f2a4995ed14bf572415fe3aff",
}, event_id="243_4027_1")
PAID = order_message("kwaishop_order_paySuccess", {
    "oid": 2607602240240301, "sellerId": 2161524184, "status": 30, "updateTime": 1773750960000,
}, event_id="243_4027_2")
FAILED = order_message("kwaishop_order_orderFail", {
    "oid": 2607602240240301, "sellerId": 2161524184, "status": 80, "updateTime": 1773751000000,
}, event_id="243_4027_3")


def refund(status, handling_way):
    return order_message("kwaishop_aftersales_updateRefund", {
        "orderId": 2607602240240301, "refundId": 9001, "handlingWay": handling_way,
        "specialRefundType": 0, "status": status, "createTime": 1773760000000,
    }, event_id=f"243_4027_r{status}_{handling_way}")


@pytest.fixture
def adapter():
    return get_adapter("kuaishou", {"app_key": APP_KEY, "message_key": MESSAGE_KEY})


def test_accepts_a_body_encrypted_with_our_message_key(adapter):
    raw = encrypt(PAID)
    adapter.verify({}, raw)
    adapter.verify({}, raw + b"\n")


def test_refuses_another_key_another_app_garbage_and_a_tampered_body(adapter):
    with pytest.raises(InvalidSignature):
        adapter.verify({}, encrypt(PAID, key=os.urandom(16)))
    with pytest.raises(InvalidSignature):
        adapter.verify({}, encrypt(dict(PAID, appKey="ks000000000000000000")))
    with pytest.raises(InvalidSignature):
        adapter.verify({}, b"not base64 at all!")
    with pytest.raises(InvalidSignature):
        adapter.verify({}, b"")
    with pytest.raises(InvalidSignature):
        adapter.verify({}, encrypt(b"plain text, not json"))
    ciphertext = bytearray(base64.b64decode(encrypt(PAID)))
    ciphertext[20] ^= 0xFF  # flips garble a whole block of the plaintext
    with pytest.raises(InvalidSignature):
        adapter.verify({}, base64.b64encode(bytes(ciphertext)))


def test_maps_events_to_kinds(adapter):
    kinds = [adapter.parse(encrypt(m))[0].kind for m in (ADD_ORDER, PAID, FAILED)]
    assert kinds == ["created", "paid", "cancelled"]
    assert adapter.parse(encrypt(refund(60, 10)))[0].kind == "refunded"
    assert adapter.parse(encrypt(refund(60, 1)))[0].kind == "refunded"
    assert adapter.parse(encrypt(refund(10, 10)))[0].kind == "other"
    assert adapter.parse(encrypt(refund(60, 3)))[0].kind == "other"
    assert adapter.parse(encrypt(order_message("kwaishop_order_delivering", {"oid": 1})))[0].kind == "other"


def test_paid_names_the_order_without_lines(adapter):
    (paid,) = adapter.parse(encrypt(PAID))
    assert paid.external_order_id == "2607602240240301"
    assert paid.lines == () and paid.needs_order_detail
    assert paid.version == 1773750960000
    assert paid.occurred_at.timestamp() == 1773750960
    assert paid.message_id == "243_4027_2"


def test_refund_names_the_order_from_order_id(adapter):
    assert adapter.parse(encrypt(refund(60, 10)))[0].external_order_id == "2607602240240301"


def test_a_redelivered_message_has_the_same_message_id_and_versions_order_steps(adapter):
    first, again = adapter.parse(encrypt(PAID))[0], adapter.parse(encrypt(PAID))[0]
    assert first.message_id == again.message_id
    assert adapter.parse(encrypt(FAILED))[0].version > first.version


def test_the_buyer_open_id_is_kept_apart(adapter):
    (created,) = adapter.parse(encrypt(ADD_ORDER))
    assert created.buyer == {"buyerOpenId": "f1b68e8f2a4995ed14bf572415fe3aff"}
    assert "buyerOpenId" not in created.raw["info"]


def test_a_test_message_is_a_ping(adapter):
    assert adapter.parse(encrypt(dict(PAID, test=True)))[0].kind == "ping"


@pytest.mark.parametrize("message, field", [
    (dict(PAID, eventId=None, msgId=None), "eventId"),
    (dict(PAID, event=None), "event"),
    (dict(PAID, info="{broken"), "info"),
    (dict(PAID, info="[]"), "info"),
    (order_message("kwaishop_order_paySuccess", {"sellerId": 1, "status": 30}), "info.oid"),
    (order_message("kwaishop_order_paySuccess", {"oid": 1, "updateTime": "soon"}), "info.updateTime"),
])
def test_malformed_messages_name_the_field(adapter, message, field):
    assert refused_field(adapter, encrypt(message)) == field


def test_an_undecryptable_body_is_an_invalid_payload_for_parse(adapter):
    with pytest.raises(InvalidPayload) as err:
        adapter.parse(b"@@@")
    assert err.value.field == "body"


def test_acknowledges_with_result_one(adapter):
    assert adapter.acknowledge() == ({"result": 1}, 200)



def test_every_failure_after_decryption_is_answered_alike_so_no_padding_oracle_is_offered(adapter):
    bad_padding = base64.b64encode(base64.b64decode(encrypt({"a": 1}))[:-16] + bytes(16))
    answers = set()
    for raw in (bad_padding, encrypt(b"not json"), encrypt(b"[1, 2]"), encrypt({"appKey": "someone-else"})):
        with pytest.raises(InvalidSignature) as err:
            adapter.verify({}, raw)
        answers.add(err.value.message)
    assert len(answers) == 1


def test_parse_after_verify_reads_only_the_body_verified():
    adapter = get_adapter("kuaishou", {"app_key": APP_KEY, "message_key": MESSAGE_KEY})
    first = encrypt(order_message("kwaishop_order_paySuccess", {"oid": 111, "status": 30, "updateTime": 1},
                                  event_id="e-1"))
    second = encrypt(order_message("kwaishop_order_paySuccess", {"oid": 222, "status": 30, "updateTime": 2},
                                   event_id="e-2"))
    adapter.verify({}, first)
    assert [(e.message_id, e.external_order_id) for e in adapter.parse(first)] == [("e-1", "111")]
    adapter.verify({}, first)
    # another body than the one verified is decrypted for itself
    assert [(e.message_id, e.external_order_id) for e in adapter.parse(second)] == [("e-2", "222")]
    with pytest.raises(InvalidPayload):
        adapter.parse(first[:-4] + b"AAAA")   # not verified: decrypted, and refused as before

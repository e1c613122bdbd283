"""Kuaishou shop (快手小店) message push.

What each detail rests on:

- Encryption: the raw body is base64 text; key = base64-decode of the app's message secret;
  AES/CBC/PKCS5Padding with an all-zero 16-byte IV. Sources: a Kuaishou digital-goods access demo
  ``com/kwaishop/digital/access/demo/domain/common/utils/PlatformEventSecurityUtil.java`` (found by code
  search: ``Base64.decodeBase64(privateKey)``, ``new IvParameterSpec(new byte[16])``,
  ``AES/CBC/PKCS5Padding``); WyntersN/go-kwai ``core/d.go`` (``AesDecryptCBC``: same key derivation,
  zero IV, PKCS5 unpadding, body trimmed) and ``examples/message_decryption/README.md``.
- Authentication: there is no signature header in these sources. We accept a body as coming from
  Kuaishou only if it decrypts with valid padding into a JSON object whose ``appKey`` (when present)
  is ours. CBC without a MAC is not a cryptographic authenticity guarantee: tampering garbles whole
  blocks and in practice breaks padding or JSON, but a forger who knows a plaintext could in principle
  alter parts of it. The service should therefore treat an order's lines and amounts as confirmed
  only from Kuaishou's order-detail API (these messages carry no lines anyway).
  Coverage: the whole message is inside the ciphertext (no field travels outside it), so there is no
  uncovered field to check. CBC's malleability needs an oracle telling good padding from good JSON:
  every failure after decryption (padding, JSON, shape, appKey) is answered with the same 401 and
  message, so none is offered. A replay is the same eventId: a duplicate that changes nothing.
- Decrypted message: ``eventId`` (unique per message), ``msgId`` (unique per business content),
  ``bizId``, ``userId``, ``openId`` (the shop's), ``appKey``, ``event``, ``info`` (a JSON string),
  ``status`` (delivery status), ``createTime``/``updateTime`` (ms), ``test`` (heartbeat test). Sources:
  go-kwai README above; 819-hao/feilun ``flywheel-web/.../entity/kuaishou/KuaiShouMessageBody.java``.
- Events: ``kwaishop_order_addOrder`` (created), ``kwaishop_order_paySuccess`` (paid),
  ``kwaishop_order_orderFail`` (trade failed: a cancelled order becomes "failed"), also
  ``deliverySuccess``, ``delivering``, ``totalFeeChange``, ``orderSuccess`` (other). Source: a Go SDK
  constants file listing these names with a sample message (found by code search, package
  ``ks_shop_go_sdk``), and feilun ``KuaiShouMessageBody.java``. ``info`` for order events: ``oid``,
  ``sellerId``, ``status`` (10 unpaid, 30 paid, 40 shipped, 50 signed, 70 success, 80 failed),
  ``updateTime`` ms, ``buyerOpenId``; ``totalFee`` in fen (ASSUMPTION: same unit as Kuaishou's order API).
- After-sales: ``kwaishop_aftersales_addRefund`` / ``kwaishop_aftersales_updateRefund`` with ``info``
  ``orderId``, ``refundId``, ``handlingWay`` (1 return and refund, 10 refund only, 3 exchange, 4 resend,
  5 repair), ``status`` (60 = refund succeeded). Sources: a Go message type citing
  open.kwaixiaodian.com/zone/new/docs/msg?name=kwaishop_aftersales_addRefund; feilun
  ``KuaishouOrderController`` comments. We report ``refunded`` only for status 60 with handlingWay 1 or
  10 (or absent); other after-sale steps are ``other``.
- ``message_id``: ``eventId``, falling back to ``msgId``. ``version``: ``info.updateTime`` (ms), falling
  back to the message's ``updateTime``.
- Success answer ``{"result": 1}`` with 200: feilun ``KuaishouOrderController.receive`` returns exactly
  this for every accepted message, including ``test`` ones.
- Messages carry no line items: ``lines == ()``, the service must fetch the order detail.
"""
from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .base import (
    UNREADABLE,
    InvalidPayload,
    InvalidSignature,
    PlatformAdapter,
    PlatformEvent,
    check_event,
    from_epoch,
    id_string,
    load_json,
    optional_int,
    refused_event,
    require_object,
)

KIND_BY_EVENT = {
    "kwaishop_order_addOrder": "created",
    "kwaishop_order_paySuccess": "paid",
    "kwaishop_order_orderFail": "cancelled",
}
REFUND_EVENTS = ("kwaishop_aftersales_addRefund", "kwaishop_aftersales_updateRefund")
REFUND_SUCCEEDED = 60
REFUND_HANDLING = (1, 10)
PERSONAL_FIELDS = ("buyerOpenId",)
ZERO_IV = bytes(16)
# One answer for every failure after decryption, so that none tells good padding from good JSON.
NOT_OURS = "body does not decrypt with our message key"


class KuaishouAdapter(PlatformAdapter):
    def __init__(self, app_key: str, message_key: str, name: str = "kuaishou"):
        if not app_key or not message_key:
            raise ValueError("kuaishou: app_key and message_key are required")
        try:
            key = base64.b64decode(message_key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("kuaishou: message_key must be base64") from None
        if len(key) not in (16, 24, 32):
            raise ValueError("kuaishou: message_key must decode to 16, 24 or 32 bytes")
        self.name = name
        self._app_key = app_key
        self._key = key
        self._verified = threading.local()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        message = self._decrypt(raw_body)
        app_key = message.get("appKey")
        if app_key is not None and str(app_key) != self._app_key:
            raise InvalidSignature(NOT_OURS)
        # `parse` of this very body (the same object, in this thread) reads it without decrypting again
        self._verified.body, self._verified.message = raw_body, message

    def parse(self, raw_body: bytes) -> list[PlatformEvent]:
        verified, message = getattr(self._verified, "body", None), getattr(self._verified, "message", None)
        self._verified.body = self._verified.message = None
        try:
            if not (verified is raw_body and isinstance(raw_body, bytes)):   # bytes: unchanged since verified
                message = self._decrypt(raw_body)
        except InvalidSignature as exc:
            raise InvalidPayload("body", exc.message) from None
        try:
            return [check_event(self._event(message), "message")]
        except InvalidPayload as exc:   # signed but unreadable: kept, refused, with its reason
            return [refused_event(self.name, message, exc)]
        except UNREADABLE:
            return [refused_event(self.name, message, InvalidPayload("message", "could not be read"))]

    def acknowledge(self, results: Sequence[Any] = ()) -> tuple[dict, int]:
        return {"result": 1}, 200

    def _decrypt(self, raw_body: bytes) -> dict:
        try:
            ciphertext = base64.b64decode(raw_body.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("body is not base64 ciphertext") from None
        if not ciphertext or len(ciphertext) % 16:
            raise InvalidSignature("ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(ZERO_IV)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise InvalidSignature(NOT_OURS) from None
        try:
            message = load_json(plain, "body")
        except InvalidPayload:
            raise InvalidSignature(NOT_OURS) from None
        if not isinstance(message, dict):
            raise InvalidSignature(NOT_OURS)
        return message

    def _event(self, message: dict) -> PlatformEvent:
        event_id = message.get("eventId") or message.get("msgId")
        message_id = id_string(event_id, "eventId")
        if message.get("test") is True:
            return PlatformEvent(platform=self.name, message_id=message_id, kind="ping", raw=message)
        event = message.get("event")
        if not isinstance(event, str) or not event:
            raise InvalidPayload("event", "is required")
        info_value = message.get("info")
        if isinstance(info_value, str):
            info = require_object(load_json(info_value, "info"), "info")
        else:
            info = require_object(info_value, "info")
        kind = self._kind(event, info)
        external_id = id_string(info.get("oid") or info.get("orderId"), "info.oid", required=kind != "other")
        stamp_field = "info.updateTime" if info.get("updateTime") else "updateTime"
        stamp = optional_int(info.get("updateTime") or message.get("updateTime"), stamp_field)
        occurred = from_epoch(stamp or info.get("createTime") or message.get("createTime"), stamp_field, millis=True)
        buyer = {k: info[k] for k in PERSONAL_FIELDS if info.get(k)} or None
        public_info = {k: v for k, v in info.items() if k not in PERSONAL_FIELDS}
        return PlatformEvent(
            platform=self.name,
            message_id=message_id,
            kind=kind,
            external_order_id=external_id,
            version=stamp,
            occurred_at=occurred,
            lines=(),
            amount_fen=optional_int(info.get("totalFee"), "info.totalFee"),
            buyer=buyer,
            raw=dict(message, info=public_info),
        )

    @staticmethod
    def _kind(event: str, info: dict) -> str:
        if event in REFUND_EVENTS:
            status = optional_int(info.get("status"), "info.status")
            handling = optional_int(info.get("handlingWay"), "info.handlingWay")
            if status == REFUND_SUCCEEDED and (handling is None or handling in REFUND_HANDLING):
                return "refunded"
            return "other"
        return KIND_BY_EVENT.get(event, "other")

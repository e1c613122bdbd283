"""Youzan (有赞 / 有赞云) message push.

What each detail rests on:

- Signature, current form: header ``Event-Sign`` = hex MD5 of client_id + raw request body (the
  "entity") + client_secret; header ``Client-Id`` names the app. Sources: cuncle/youzanyun-push-demo
  ``pushdemo.go`` ("Event-Sign：防伪签名：MD5(client_id+entity+client_secret); entity 是从 RequestBody
  读取的内容", citing doc.youzanyun.com/resource/develop-guide/41355/41536); a public gin middleware
  (``YouZanAPIAuth``, found by code search) doing the same over the raw body with ``Client-Id``.
  Note: this is the MD5 of the whole body, not of the ``msg`` field alone.
- Signature, legacy form (no ``Event-Sign`` header): body field ``sign`` = MD5(client_id + msg +
  client_secret) over the ``msg`` field as sent. Sources: several public handlers found by code search
  (PHP ``md5($client_id.$msg.$client_secret)`` compared with ``$data['sign']``; a TypeScript route
  citing doc.youzanyun.com/detail/API/0/33; a koa middleware for Youzan pushes, path ``yzpush``, whose
  comment lists the body: ``sign`` "防伪签名：MD5(client_id+msg+client_secrect)", ``version`` "一般为时间戳
  ... 不能只根据version判断消息唯一性", ``test``, ``type``, ``status``, ``msg_id``).
  That signature covers ``msg`` only: ``type``, ``version``, ``id``, ``msg_id``, ``status`` and ``test``
  can be changed by anyone who saw one push (a paid order's push retyped ``trade_TradeClose`` would
  cancel it). So the legacy form is REFUSED by default (401). The configuration key
  ``"allow_legacy_sign": true`` accepts it, at this stated risk, and then nothing uncovered is acted
  on: the kind must agree with the order status inside the signed ``msg`` (else the event is refused,
  never applied), the version comes from the signed ``update_time`` only, and the message id is a digest
  of ``msg``, so a replay with changed uncovered fields is a duplicate.
- Body: a JSON object (a form-encoded body is also read, as older handlers accept both) with ``type``
  (e.g. ``trade_TradeCreate``, ``trade_TradePaid``, ``trade_TradeBuyerPay``, ``trade_TradeClose``:
  the Java enum ``TradeEnum`` and PHP/Java handlers found by code search), ``id``, ``kdt_id``,
  ``status``, ``mode``, ``test``, ``version``, optional ``msg_id``, and ``msg``: the event as JSON,
  URL-encoded (handlers call ``urldecode`` before ``json_decode``). We read ``msg`` as JSON first and
  URL-decode only if that fails.
- ``msg`` content for trade messages: ``full_order_info.order_info.tid`` / ``pay_time`` / ``created``
  / ``update_time``, ``full_order_info.orders[]`` with ``item_id``, ``sku_id``, ``num``, ``title``,
  ``payment``, ``full_order_info.pay_info.payment`` (yuan), ``address_info`` and ``buyer_info``
  (personal data). Sources: the PHP/Java handlers above (``full_order_info.order_info.tid``,
  ``orders[0].payment``/``title``, ``pay_time``, ``qr_info``); the TypeScript route (``orders[].item_id``
  / ``num``). The names ``pay_info.payment``, ``address_info``, ``buyer_info``, ``update_time`` and the
  time format ``YYYY-MM-DD HH:MM:SS`` in China time are ASSUMPTIONS from Youzan's trade API shape.
- Refund types: any type ending in ``RefundSuccess`` (seen as ``REFUND_RefundSuccess`` and, in the
  brief, ``trade_refund_RefundSuccess``) is ``refunded``; the exact spelling is an ASSUMPTION.
- Retries: re-pushed up to 4 times (5 s, 5 min 20 s, 21 min 20 s, 2 h) until the answer
  ``{"code": 0, "msg": "success"}`` (brief; the same answer is used by the handlers above);
  a higher ``version`` overrides a lower one (brief). When ``version`` is missing or not an integer we
  fall back to the order's ``update_time`` (epoch seconds).
- ``message_id``: ``msg_id`` when present, otherwise ``type:id:version``, identical across re-pushes.
- Verification ping: ``test`` true (the TypeScript route answers ``test`` pushes with success).
- ``product_ref``: the order line's ``sku_id`` when non-zero, else its ``item_id`` (Youzan uses
  ``sku_id`` 0 for items without variants: ASSUMPTION).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from .base import (
    MAX_JSON_DEPTH,
    UNREADABLE,
    InvalidPayload,
    InvalidSignature,
    PlatformAdapter,
    PlatformEvent,
    PlatformLine,
    check_event,
    from_china_local,
    header,
    id_string,
    nested_too_deeply,
    positive_quantity,
    refused_event,
    require_object,
    same_hex_digest,
    without,
    yuan_to_fen,
)

KIND_BY_TYPE = {
    "trade_tradecreate": "created",
    "trade_tradepaid": "paid",
    "trade_tradebuyerpay": "paid",
    "trade_tradeclose": "cancelled",
}
PERSONAL_FIELDS = ("address_info", "buyer_info")
# The trade's status inside the signed msg -> the kind it confirms. WAIT_BUYER_PAY and
# WAIT_SELLER_SEND_GOODS: the koa middleware above; the others are ASSUMPTIONS from Youzan's trade API.
KIND_BY_STATUS = {
    "WAIT_BUYER_PAY": "created",
    "WAIT_SELLER_SEND_GOODS": "paid", "WAIT_BUYER_CONFIRM_GOODS": "paid", "TRADE_SUCCESS": "paid",
    "TRADE_CLOSED": "cancelled",
}


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1"))


def _decode_body(raw_body: bytes) -> dict:
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("body", "is not UTF-8") from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        if nested_too_deeply(raw_body):
            raise InvalidPayload("body", f"nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            return require_object(json.loads(text), "body")
        except json.JSONDecodeError as exc:
            raise InvalidPayload("body", f"is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InvalidPayload("body", "is nested too deeply") from None
    form = dict(parse_qsl(text, keep_blank_values=True))
    if not form:
        raise InvalidPayload("body", "must be a JSON object")
    return form


def _decode_msg(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload("msg", "is required")
    for candidate in (value, unquote_plus(value)):
        if nested_too_deeply(candidate):
            raise InvalidPayload("msg", f"nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            return require_object(json.loads(candidate), "msg")
        except (json.JSONDecodeError, RecursionError):
            continue
    raise InvalidPayload("msg", "is neither JSON nor URL-encoded JSON")


def _lenient_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class YouzanAdapter(PlatformAdapter):
    def __init__(self, client_id: str, client_secret: str, name: str = "youzan", *, allow_legacy_sign: bool = False):
        if not client_id or not client_secret:
            raise ValueError("youzan: client_id and client_secret are required")
        self.name = name
        self._client_id = client_id
        self._client_secret = client_secret
        self._allow_legacy_sign = allow_legacy_sign is True

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        client_id = header(headers, "Client-Id")
        if client_id is not None and client_id != self._client_id:
            raise InvalidSignature("Client-Id header does not name our app")
        event_sign = header(headers, "Event-Sign")
        if event_sign:
            signed = self._client_id.encode("utf-8") + raw_body + self._client_secret.encode("utf-8")
            if not same_hex_digest(hashlib.md5(signed).hexdigest(), event_sign):
                raise InvalidSignature("Event-Sign does not match the body")
            return
        try:
            body = _decode_body(raw_body)
        except InvalidPayload:
            raise InvalidSignature("missing Event-Sign header") from None
        sign, msg = body.get("sign"), body.get("msg")
        if not isinstance(sign, str) or not isinstance(msg, str):
            raise InvalidSignature("missing Event-Sign header")
        if not self._allow_legacy_sign:
            raise InvalidSignature("the legacy 'sign' covers msg only, not type or version: refused unless "
                                   "allow_legacy_sign is configured")
        if not self._legacy_signed(body):
            raise InvalidSignature("sign does not match msg")

    def _legacy_signed(self, body: dict) -> bool:
        sign, msg = body.get("sign"), body.get("msg")
        if not isinstance(sign, str) or not isinstance(msg, str):
            return False
        expected = hashlib.md5(f"{self._client_id}{msg}{self._client_secret}".encode("utf-8")).hexdigest()
        return same_hex_digest(expected, sign)

    def parse(self, raw_body: bytes) -> list[PlatformEvent]:
        body = _decode_body(raw_body)
        try:
            event = self._event(body)
            if self._allow_legacy_sign and self._legacy_signed(body):
                event = self._covered_only(body, event)
            return [check_event(event, "push")]
        except InvalidPayload as exc:   # signed but unreadable: kept, refused, with its reason
            return [refused_event(self.name, without(body, ("sign",)), exc)]
        except UNREADABLE:
            return [refused_event(self.name, without(body, ("sign",)), InvalidPayload("push", "could not be read"))]

    def _event(self, body: dict) -> PlatformEvent:
        push_type = body.get("type")
        top_id = id_string(body.get("id"), "id", required=False)
        msg_id = id_string(body.get("msg_id"), "msg_id", required=False)
        version = _lenient_int(body.get("version"))
        if _is_true(body.get("test")):
            message_id = msg_id or f"test:{push_type}:{top_id}:{version}"
            return PlatformEvent(platform=self.name, message_id=message_id, kind="ping", raw=without(body, ("sign",)))
        if not isinstance(push_type, str) or not push_type:
            raise InvalidPayload("type", "is required")
        msg = _decode_msg(body.get("msg"))
        kind = self._kind(push_type)
        full = msg.get("full_order_info")
        full = require_object(full, "msg.full_order_info") if full is not None else {}
        order_info = full.get("order_info")
        order_info = require_object(order_info, "msg.full_order_info.order_info") if order_info is not None else {}
        external_id = (
            id_string(order_info.get("tid"), "msg.full_order_info.order_info.tid", required=False)
            or id_string(msg.get("tid"), "msg.tid", required=False)
            or top_id
        )
        if external_id is None and kind != "other":
            raise InvalidPayload("msg.full_order_info.order_info.tid", "is required")
        updated = from_china_local(order_info.get("update_time") or msg.get("update_time"), "msg.update_time")
        if version is None and updated is not None:
            version = int(updated.timestamp())
        occurred = (
            from_china_local(order_info.get("pay_time"), "msg.full_order_info.order_info.pay_time") if kind == "paid" else None
        ) or updated or from_china_local(order_info.get("created"), "msg.full_order_info.order_info.created")
        pay_info = full.get("pay_info") if isinstance(full.get("pay_info"), dict) else {}
        buyer = {k: full[k] for k in PERSONAL_FIELDS if full.get(k)} or None
        raw_msg = dict(msg, full_order_info=without(full, PERSONAL_FIELDS)) if full else msg
        return PlatformEvent(
            platform=self.name,
            message_id=msg_id or f"{push_type}:{top_id or external_id}:{version}",
            kind=kind,
            external_order_id=external_id,
            version=version,
            occurred_at=occurred,
            lines=self._lines(full.get("orders")),
            amount_fen=yuan_to_fen(pay_info.get("payment"), "msg.full_order_info.pay_info.payment"),
            buyer=buyer,
            raw=dict(without(body, ("sign", "msg")), msg=raw_msg),
        )

    @staticmethod
    def _covered_only(body: dict, event: PlatformEvent) -> PlatformEvent:
        """A legacy-signed push's event, resting on the signed msg alone: its kind confirmed by the signed
        order status, its version the signed update time, its message id a digest of msg."""
        if event.kind == "ping":
            return event   # a forged test flag only makes a push be ignored; the platform sends it again
        msg = _decode_msg(body.get("msg"))
        full = msg.get("full_order_info") if isinstance(msg.get("full_order_info"), dict) else {}
        order_info = full.get("order_info") if isinstance(full.get("order_info"), dict) else {}
        status = order_info.get("status")
        if event.kind != "other" and (not isinstance(status, str) or KIND_BY_STATUS.get(status) != event.kind):
            raise InvalidPayload("type", f"is not covered by the legacy signature, and the signed order status "
                                         f"({status!r}) does not confirm a {event.kind!r} event: not applied")
        signed_tid = order_info.get("tid") or msg.get("tid")
        if event.kind != "other" and (signed_tid is None or str(signed_tid).strip() != event.external_order_id):
            raise InvalidPayload("id", "is not covered by the legacy signature, and the signed msg names no order")
        updated = from_china_local(order_info.get("update_time") or msg.get("update_time"), "msg.update_time")
        digest = hashlib.sha256(str(body.get("msg")).encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return dataclasses.replace(event, message_id=f"msg:{digest}",
                                   version=int(updated.timestamp()) if updated is not None else None)

    @staticmethod
    def _kind(push_type: str) -> str:
        lowered = push_type.lower()
        if lowered.endswith("refundsuccess"):
            return "refunded"
        return KIND_BY_TYPE.get(lowered, "other")

    @staticmethod
    def _lines(orders: Any) -> tuple[PlatformLine, ...]:
        if orders is None:
            return ()
        if not isinstance(orders, list):
            raise InvalidPayload("msg.full_order_info.orders", "must be a list")
        lines = []
        for i, item in enumerate(orders):
            path = f"msg.full_order_info.orders[{i}]"
            item = require_object(item, path)
            sku_id = id_string(item.get("sku_id"), f"{path}.sku_id", required=False)
            ref = sku_id if sku_id not in (None, "0") else id_string(item.get("item_id"), f"{path}.item_id")
            lines.append(PlatformLine(ref, positive_quantity(item.get("num"), f"{path}.num")))
        return tuple(lines)

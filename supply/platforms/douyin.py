"""Douyin shop (抖店) message push.

What each detail rests on:

- Signature: headers ``app-id`` (must equal our app_key) and ``event-sign`` = hex MD5 of
  app_key + raw body + app_secret. Sources: minibear2021/doudian ``doudian/core.py`` (``callback``:
  checks ``app-id``, MD5 of ``'{app_key}{data}{app_secret}'``); fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance
  ``src/SKIT.FlurlHttpClient.ByteDance.DouyinShop/Extensions/DouyinShopClientEventExtensions.cs``
  (``VerifyEventSignature``, same string, compared case-insensitively; cites
  op.jinritemai.com/docs/guide-docs/153/99). Some integrations also see a ``sign-method`` header; we
  have no source for any method other than MD5, so a ``sign-method`` other than md5 is refused rather
  than guessed (assumption: absent means MD5).
  Coverage: the digest covers the whole raw body; the headers outside it (``app-id``, ``sign-method``)
  change nothing but must name our app and MD5. A replay is the same ``msg_id``: a duplicate.
- Body: a JSON list of ``{"tag", "msg_id", "data"}`` where ``data`` is a JSON string. Sources:
  819-hao/feilun ``flywheel-web/.../entity/douyin/DouYinMessageBody.java`` (``tag``, ``msg_id``,
  ``data`` string); SKIT ``DouyinShopEvent.cs`` names the id ``msgId``, so both spellings are read.
- Tags: 100 order created, 101 paid, 105 buyer address changed (not a cancellation), 106 cancelled,
  200 after-sale requested, 201 refund agreed, 202 return agreed, 207 after-sale closed,
  208 after-sale modified. Source: feilun ``DouYinMessageBody.java`` (``DouYinMessageBodyTag``).
  206 = refund succeeded (``doudian_refund_RefundSuccess``, SKIT ``Events/Refund/RefundSuccessEvent.cs``
  documents the message but not its number): the number 206 is an ASSUMPTION, the only tag mapped to
  ``refunded``; every other 2xx is an after-sale step that releases nothing yet, surfaced as ``other``.
  Tag ``"0"`` as the verification ping is an ASSUMPTION (the platform's console test message).
- Data fields: ``p_id`` (parent order id, our external order id), ``s_ids``, ``order_status``,
  ``create_time`` / ``pay_time`` / ``cancel_time`` (seconds), ``pay_amount`` in fen. Sources: SKIT
  ``Events/Trade/TradeCreateEvent.cs``; feilun ``DouYinTradeCanceledData.java``; the Douyin Java SDK
  file ``com/doudian/open/msg/trade_TradePaid/param/TradeTradePaidParam.java`` (``pay_amount`` example
  1990, ``pay_time``). Refund success: ``refund_amount`` in fen, ``success_time`` (SKIT
  ``RefundSuccessEvent.cs``).
- Messages carry no line items: every order event has ``lines == ()`` and the service must fetch the
  order detail (``needs_order_detail``).
- ``version``: Douyin sends no version; we use the event's own timestamp (pay/cancel/success/create
  time, seconds), so a later step overrides an earlier one. ASSUMPTION that these are monotonic per order.
- Success answer ``{"code": 0, "msg": "success"}`` with 200, within a few seconds; messages may be
  delivered more than once (brief; matches the answer used in public integrations such as the
  ``douyin_webhook`` handlers found in code search).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .base import (
    UNREADABLE,
    InvalidPayload,
    InvalidSignature,
    PlatformAdapter,
    PlatformEvent,
    check_event,
    from_epoch,
    header,
    id_string,
    load_json,
    optional_int,
    refused_event,
    require_object,
    same_hex_digest,
)

PING_TAG = "0"
KIND_BY_TAG = {"100": "created", "101": "paid", "106": "cancelled", "206": "refunded"}
# Time field that dates each message, in order of preference.
TIME_FIELDS = ("success_time", "cancel_time", "pay_time", "update_time", "create_time")
AMOUNT_FIELDS = {"101": "pay_amount", "206": "refund_amount"}
# Receiver details some messages (e.g. 105 address changed) may carry; moved out of raw into buyer.
PERSONAL_FIELDS = ("receiver_msg", "post_receiver", "post_tel", "post_addr", "receiver_name", "receiver_tel",
                   "receiver_address", "encrypt_post_receiver", "encrypt_post_tel")


class DouyinAdapter(PlatformAdapter):
    def __init__(self, app_key: str, app_secret: str, name: str = "douyin"):
        if not app_key or not app_secret:
            raise ValueError("douyin: app_key and app_secret are required")
        self.name = name
        self._app_key = app_key
        self._app_secret = app_secret

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        app_id = header(headers, "app-id")
        sign = header(headers, "event-sign")
        if not sign:
            raise InvalidSignature("missing event-sign header")
        if app_id != self._app_key:
            raise InvalidSignature("app-id header does not name our app")
        method = header(headers, "sign-method")
        if method and method.lower() != "md5":
            raise InvalidSignature(f"unsupported sign-method {method!r}")
        expected = hashlib.md5(self._app_key.encode("utf-8") + raw_body + self._app_secret.encode("utf-8")).hexdigest()
        if not same_hex_digest(expected, sign):
            raise InvalidSignature("event-sign does not match the body")

    def parse(self, raw_body: bytes) -> list[PlatformEvent]:
        messages = load_json(raw_body, "body")
        if not isinstance(messages, list):
            raise InvalidPayload("body", "must be a list of messages")
        return [self._read(message, f"[{i}]") for i, message in enumerate(messages)]

    def _read(self, message: Any, path: str) -> PlatformEvent:
        """The event of one message, or the message refused with its reason (it costs only itself)."""
        try:
            return check_event(self._event(message, path), path)
        except InvalidPayload as exc:
            return refused_event(self.name, message, exc)
        except UNREADABLE:   # a value of a type no reading expected: still only this message's loss
            return refused_event(self.name, message, InvalidPayload(path, "could not be read"))

    def _event(self, message: Any, path: str) -> PlatformEvent:
        message = require_object(message, path)
        tag = id_string(message.get("tag"), f"{path}.tag")
        msg_field = "msg_id" if "msg_id" in message else "msgId"
        message_id = id_string(message.get(msg_field), f"{path}.{msg_field}")
        if tag == PING_TAG:
            return PlatformEvent(platform=self.name, message_id=message_id, kind="ping", raw=message)
        data_text = message.get("data")
        if isinstance(data_text, str):
            data = require_object(load_json(data_text, f"{path}.data"), f"{path}.data")
        else:
            data = require_object(data_text, f"{path}.data")
        kind = KIND_BY_TAG.get(tag, "other")
        stamp_field = next((f for f in TIME_FIELDS if data.get(f) not in (None, "", 0)), None)
        stamp = optional_int(data.get(stamp_field), f"{path}.data.{stamp_field}") if stamp_field else None
        amount_field = AMOUNT_FIELDS.get(tag)
        buyer = {k: data[k] for k in PERSONAL_FIELDS if k in data} or None
        public = {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}
        return PlatformEvent(
            platform=self.name,
            message_id=message_id,
            kind=kind,
            external_order_id=id_string(data.get("p_id"), f"{path}.data.p_id", required=kind != "other"),
            version=stamp,
            occurred_at=from_epoch(stamp, f"{path}.data.{stamp_field}") if stamp_field else None,
            lines=(),
            amount_fen=optional_int(data.get(amount_field), f"{path}.data.{amount_field}") if amount_field else None,
            buyer=buyer,
            raw={"tag": tag, "msg_id": message_id, "data": public},
        )

"""Our own webhook format (API.md, ``POST /webhooks/{platform}``), spoken by any platform configured
with a plain string secret.

- Signature: header ``X-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>``: it
  covers the whole body, so no field is taken on trust; a replay is the same message ids (duplicates).
- Body: ``{"events": [{"type": "order.paid" | "order.cancelled", "id"?: str,
  "order": {"platform"?, "external_id", "stream_id"?, "lines": [{"sku", "quantity"}], "buyer"?}}]}``.
  Line ``sku`` is our SKU, surfaced unchanged as `PlatformLine.product_ref`.
- ``message_id``: the event's optional ``id``; otherwise derived from (type, platform, external_id),
  so a re-sent event de-duplicates.
- ``order.platform``: must equal the webhook's platform name, so that a sender holding one platform's
  secret cannot touch another platform's orders. Only the adapter named ``generic`` (the catch-all)
  accepts any platform named in the body.
- Success answer: 200 with ``{"results": [...]}``, one result per event (API.md).

The format is ours; nothing here rests on an outside source.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from .base import (
    MAX_SKU,
    MAX_STREAM_ID,
    UNREADABLE,
    InvalidPayload,
    InvalidSignature,
    PlatformAdapter,
    PlatformEvent,
    PlatformLine,
    check_event,
    header,
    id_string,
    load_json,
    optional_int,
    positive_quantity,
    require_object,
    refused_event,
    same_hex_digest,
    without,
)

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_PREFIX = "sha256="
EVENT_TYPES = {"order.paid": "paid", "order.cancelled": "cancelled"}


class GenericAdapter(PlatformAdapter):
    def __init__(self, name: str, secret: str, *, any_platform: bool | None = None):
        if not secret:
            raise ValueError(f"platform {name!r}: the webhook secret is empty")
        self.name = name
        self._secret = secret.encode("utf-8")
        self._any_platform = (name == "generic") if any_platform is None else any_platform

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        given = header(headers, SIGNATURE_HEADER)
        if not given:
            raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
        if not given.lower().startswith(SIGNATURE_PREFIX):
            raise InvalidSignature(f"{SIGNATURE_HEADER} must start with {SIGNATURE_PREFIX!r}")
        expected = hmac.new(self._secret, raw_body, hashlib.sha256).hexdigest()
        if not same_hex_digest(expected, given[len(SIGNATURE_PREFIX):]):
            raise InvalidSignature("signature does not match the body")

    def parse(self, raw_body: bytes) -> list[PlatformEvent]:
        body = require_object(load_json(raw_body, "body"), "body")
        events = body.get("events")
        if not isinstance(events, list):
            raise InvalidPayload("events", "must be a list")
        return [self._read(item, f"events[{i}]") for i, item in enumerate(events)]

    def acknowledge(self, results: Sequence[Any] = ()) -> tuple[dict, int]:
        return {"results": list(results)}, 200

    def _read(self, item: Any, path: str) -> PlatformEvent:
        """The event of one item, or the item refused with its reason: one bad event costs only itself."""
        try:
            event = self._event(item, path)
            stream_id = event.raw["order"].get("stream_id")
            if stream_id is not None and (type(stream_id) is not int or not 0 < stream_id <= MAX_STREAM_ID):
                raise InvalidPayload(f"{path}.order.stream_id", f"must be an integer between 1 and {MAX_STREAM_ID}")
            return check_event(event, path, max_ref=MAX_SKU)
        except InvalidPayload as exc:
            return refused_event(self.name, item, exc)
        except UNREADABLE:   # a value of a type no reading expected: still only this event's loss
            return refused_event(self.name, item, InvalidPayload(path, "could not be read"))

    def _event(self, item: Any, path: str) -> PlatformEvent:
        return self._plain_event(item) or self._checked_event(item, path)

    def _plain_event(self, item: Any) -> PlatformEvent | None:
        """The event of a plainly valid item, read with no more than type checks (a spike's push holds
        hundreds); None for anything else, which `_checked_event` then reads or words the error for."""
        if type(item) is not dict:
            return None
        order, kind = item.get("order"), EVENT_TYPES.get(item.get("type")) if type(item.get("type")) is str else None
        if kind is None or type(order) is not dict:
            return None
        platform, external_id = order.get("platform", self.name), order.get("external_id")
        if type(platform) is not str or not (platform == self.name or (self._any_platform and _plain_id(platform))):
            return None
        message_id, version, buyer = item.get("id"), item.get("version"), order.get("buyer")
        if not _plain_id(external_id) or not (message_id is None or _plain_id(message_id)) \
                or not (version is None or (type(version) is int)) or not (buyer is None or type(buyer) is dict):
            return None
        value = order.get("lines")
        if value is None and kind != "paid":
            lines = ()
        elif type(value) is list and value:
            lines = []
            for line in value:
                if type(line) is not dict:
                    return None
                sku, quantity = line.get("sku"), line.get("quantity")
                if type(sku) is not str or not _plain_id(sku) or type(quantity) is not int or quantity <= 0:
                    return None
                lines.append(PlatformLine(sku, quantity))
            lines = tuple(lines)
        else:
            return None
        return PlatformEvent(platform=platform, message_id=message_id or f"{item['type']}:{platform}:{external_id}",
                             kind=kind, external_order_id=external_id, version=version, lines=lines, buyer=buyer,
                             raw=item if "buyer" not in order else dict(item, order=without(order, ("buyer",))))

    def _checked_event(self, item: Any, path: str) -> PlatformEvent:
        item = require_object(item, path)
        event_type = item.get("type")
        if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
            raise InvalidPayload(f"{path}.type", f"must be one of {sorted(EVENT_TYPES)}")
        order = require_object(item.get("order"), f"{path}.order")
        platform = id_string(order.get("platform"), f"{path}.order.platform", required=False) or self.name
        if platform != self.name and not self._any_platform:
            raise InvalidPayload(f"{path}.order.platform", f"must be {self.name!r} on this webhook")
        external_id = id_string(order.get("external_id"), f"{path}.order.external_id")
        kind = EVENT_TYPES[event_type]
        lines = self._lines(order.get("lines"), f"{path}.order.lines", required=kind == "paid")
        message_id = id_string(item.get("id"), f"{path}.id", required=False) or f"{event_type}:{platform}:{external_id}"
        buyer = order.get("buyer")
        if buyer is not None and not isinstance(buyer, dict):
            raise InvalidPayload(f"{path}.order.buyer", "must be an object")
        raw = dict(item, order=without(order, ("buyer",)))
        return PlatformEvent(
            platform=platform,
            message_id=message_id,
            kind=kind,
            external_order_id=external_id,
            version=optional_int(item.get("version"), f"{path}.version"),
            lines=lines,
            buyer=buyer,
            raw=raw,
        )

    @staticmethod
    def _lines(value: Any, path: str, *, required: bool) -> tuple[PlatformLine, ...]:
        if value is None and not required:
            return ()
        if not isinstance(value, list) or (required and not value):
            raise InvalidPayload(path, "must be a non-empty list" if required else "must be a list")
        lines = []
        for i, line in enumerate(value):
            line = require_object(line, f"{path}[{i}]")
            sku = line.get("sku")
            if not isinstance(sku, str) or not sku.strip():
                raise InvalidPayload(f"{path}[{i}].sku", "must be a non-empty string")
            lines.append(PlatformLine(sku.strip(), positive_quantity(line.get("quantity"), f"{path}[{i}].quantity")))
        return tuple(lines)


def _plain_id(value: Any) -> bool:
    """A string id that `id_string` would keep as it is."""
    return type(value) is str and value != "" and value == value.strip()

"""The plain path's validator: in a spike almost every body is a plainly valid order, and reading it
through marshmallow and webargs cost more CPU than reserving it. Used by /orders/batch
(supply/api/orders.py) and by the fast lane (supply/api/fastlane.py).

`plain_order` accepts only what OrderIn accepts (and is stricter where that is simpler), yielding what
OrderIn + to_request would; anything else goes the full way, so every error is worded by the schemas as
before. tests/service/test_order_plain_path.py holds the two readings to each other.
"""
from __future__ import annotations

import functools
import re

from supply.api.schemas import MAX_ID
from supply.domain.rules import MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER, OrderLineRequest, OrderRequest

_PLATFORM_RE = re.compile(r"[a-z0-9_\-]{1,40}")
_ORDER_KEYS = frozenset(("platform", "external_id", "stream_id", "lines", "buyer"))
_LINE_KEYS = frozenset(("sku", "quantity"))
_BUYER_LIMITS = {"name": 100, "phone": 40, "address": 500}


def _plain_text(value, max_length: int) -> bool:
    return (type(value) is str and 0 < len(value) <= max_length and value.isprintable()
            and not value.isspace())


# Cached (for strings only): a spike repeats a few platforms and SKUs thousands of times.
@functools.lru_cache(maxsize=4096)
def _plain_platform(platform: str) -> bool:
    return _PLATFORM_RE.fullmatch(platform) is not None


@functools.lru_cache(maxsize=4096)
def _plain_sku(sku: str) -> bool:
    return _plain_text(sku, 64)


def plain_order(data) -> OrderRequest | None:
    """The order in `data` when it is plainly valid, else None (the schema then says what is wrong)."""
    if type(data) is not dict or not data.keys() <= _ORDER_KEYS:
        return None
    platform, external_id = data.get("platform"), data.get("external_id")
    if type(platform) is not str or not _plain_platform(platform) or not _plain_text(external_id, 128):
        return None
    stream_id = data.get("stream_id")
    if stream_id is not None and (type(stream_id) is not int or not 1 <= stream_id <= MAX_ID):
        return None
    lines = data.get("lines")
    if type(lines) is not list or not 1 <= len(lines) <= MAX_LINES_PER_ORDER:
        return None
    parsed = []
    for line in lines:
        if type(line) is not dict or line.keys() != _LINE_KEYS:
            return None
        sku, quantity = line["sku"], line["quantity"]
        if type(sku) is not str or not _plain_sku(sku) or type(quantity) is not int \
                or not 1 <= quantity <= MAX_LINE_QUANTITY:
            return None
        parsed.append(OrderLineRequest(sku, quantity))
    buyer = data.get("buyer")
    if buyer is not None:
        if type(buyer) is not dict or not buyer.keys() <= _BUYER_LIMITS.keys():
            return None
        if not all(value is None or _plain_text(value, _BUYER_LIMITS[key]) for key, value in buyer.items()):
            return None
        buyer = {key: value for key, value in buyer.items() if value is not None} or None
    return OrderRequest(platform=platform, external_id=external_id, stream_id=stream_id, lines=tuple(parsed),
                        buyer=buyer)

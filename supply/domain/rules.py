"""Reservation and stock rules, as plain functions over plain values."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

MAX_LINE_QUANTITY = 1_000_000
MAX_LINES_PER_ORDER = 100
MAX_STOCK_DELTA = 100_000_000
ROLES = ("manager", "host", "driver")
STOCK_KINDS = ("declared", "confirmed")


@dataclass(frozen=True)
class OrderLineRequest:
    sku: str
    quantity: int


_json_text = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class OrderRequest:
    platform: str
    external_id: str
    lines: tuple[OrderLineRequest, ...]
    stream_id: int | None = None
    buyer: dict | None = None

    def fingerprint(self) -> str:
        """What makes two sends of the same (platform, external_id) the same order (the buyer does not count).

        The SHA-256 of json.dumps({"lines": sorted [sku, quantity] pairs, "stream_id": ...},
        sort_keys=True, ensure_ascii=False), spelled out here because it is computed for every order
        of a spike (stored hashes must keep matching: see tests/unit/test_order_fingerprint.py).
        """
        return _fingerprint(self.lines, self.stream_id)


@functools.lru_cache(maxsize=4096)
def _fingerprint(lines: tuple[OrderLineRequest, ...], stream_id: int | None) -> str:
    # Cached: in a spike most orders are the same lines (one bag of the hot SKU), so the same value.
    text = ", ".join(f"[{_json_text(sku)}, {quantity}]"
                     for sku, quantity in sorted((line.sku, line.quantity) for line in lines))
    stream = "null" if stream_id is None else str(int(stream_id))
    return hashlib.sha256(f'{{"lines": [{text}], "stream_id": {stream}}}'.encode()).hexdigest()


def available_to_promise(confirmed: int, reserved: int, held: int) -> int:
    """Units that can be promised now: confirmed stock minus reservations and holds."""
    return confirmed - reserved - held


def split_from_hold(quantity: int, hold_remaining: int) -> tuple[int, int]:
    """An order from a stream draws first on that stream's hold: (from_hold, from_available)."""
    from_hold = min(quantity, max(hold_remaining, 0))
    return from_hold, quantity - from_hold


def check_adjustment(kind: str, delta: int, *, declared: int, confirmed: int, allocated: int,
                     product_confirmed: int, product_reserved: int, product_held: int) -> str | None:
    """Why a stock adjustment must be refused, or None when it may be applied.

    Declared is what the farm says it has; confirmed is what the manager checked, so it can never
    exceed declared, never drop below what is allocated to pickups at the farm, and never drop
    the product below what is already reserved and held.
    """
    if kind == "declared":
        if declared + delta < 0:
            return f"declared stock would become {declared + delta}"
        if declared + delta < confirmed:
            return f"declared stock would fall below the {confirmed} units already confirmed"
        return None
    if confirmed + delta < 0:
        return f"confirmed stock would become {confirmed + delta}"
    if confirmed + delta > declared:
        return f"confirmed stock would exceed the {declared} units the farm declared"
    if confirmed + delta < allocated:
        return f"confirmed stock would fall below the {allocated} units allocated to pickups at this farm"
    if product_confirmed + delta < product_reserved + product_held:
        return (f"confirmed stock of the product would fall below the {product_reserved + product_held} "
                f"units already reserved and held")
    return None

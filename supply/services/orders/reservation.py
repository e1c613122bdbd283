"""The reservation rule, in one place: an order takes every line from its products' figures (the stream's
hold first), or none of it.

Everything here works on plain values read beforehand (`Figures` per product, `Hold` per stream and
product), changed in place as orders are reserved; the storage strategies (postgres, bulk) read them,
call `decide`, and write back what was taken (`taken`). One by one (one_by_one) applies the same rule
in SQL, and words a refusal with the same `short_lines`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from supply.domain.rules import OrderRequest, available_to_promise, split_from_hold


@dataclass(slots=True)
class Figures:
    """A product's figures as one call sees them. `confirmed` counts backordered units too (they are
    reserved without stock behind them); `reserved_read` and `held_read` are the figures as read, so
    what the call took is the difference (only reserved and held are written back)."""

    confirmed: int
    reserved: int
    held: int
    reserved_read: int
    held_read: int

    @property
    def available(self) -> int:
        return available_to_promise(self.confirmed, self.reserved, self.held)

    def counts(self) -> tuple[int, int, int]:
        return self.confirmed, self.reserved, self.held

    def copy(self) -> Figures:
        return Figures(self.confirmed, self.reserved, self.held, self.reserved_read, self.held_read)


@dataclass(slots=True)
class Hold:
    """A stream's hold of a product: units `remaining`, and those `taken` by this call's orders."""

    remaining: int
    taken: int = 0

    def copy(self) -> Hold:
        return Hold(self.remaining, self.taken)


class Decision(NamedTuple):
    index: int                  # of the request
    status: str                 # reserved or rejected
    rows: list[dict]            # the order's lines as written
    short: list[dict] | None    # the short lines of a rejected order


def decide(requests: list[OrderRequest], indexes: list[int], products: dict, figures: dict[int, Figures],
           holds: dict[tuple[int, int], Hold]) -> list[Decision]:
    """Each of these requests, in turn, reserved or refused against the figures (changed in place)."""
    decided = []
    for index in indexes:
        rows, short = reserve(requests[index], products, figures, holds)
        decided.append(Decision(index, "rejected" if short else "reserved", rows, short or None))
    return decided


def reserve(request: OrderRequest, products: dict, figures: dict[int, Figures],
            holds: dict[tuple[int, int], Hold]) -> tuple[list[dict], list[dict]]:
    """Take every line of the order from the figures (the stream's hold first), or none of it.

    `products` maps a SKU to its row (with .id). Returns the order's line rows and, when it cannot be
    met, its short lines (nothing taken then, and the rows reserve nothing).
    """
    stream_id = request.stream_id
    if stream_id is None and len(request.lines) == 1:   # the usual order: one line, no stream
        line = request.lines[0]
        product_id = products[line.sku].id
        product = figures[product_id]
        if product.available >= line.quantity:
            product.reserved += line.quantity
            return [{"product_id": product_id, "quantity": line.quantity, "from_hold": 0,
                     "reserved": line.quantity}], []
    rows, short = [], False
    taken: dict[int, list[int]] = {}          # product -> [units reserved, units drawn from its hold]
    drawn: dict[tuple[int, int], int] = {}    # hold -> units drawn by the lines before
    for line in request.lines:
        product_id = products[line.sku].id
        product = figures[product_id]
        so_far = taken.setdefault(product_id, [0, 0])
        hold = holds.get((stream_id, product_id)) if stream_id is not None else None
        left = hold.remaining - drawn.get((stream_id, product_id), 0) if hold is not None else 0
        from_hold, from_available = split_from_hold(line.quantity, left)
        if available_to_promise(product.confirmed, product.reserved + so_far[0],
                                product.held - so_far[1]) < from_available:
            short = True
        so_far[0] += line.quantity
        so_far[1] += from_hold
        if hold is not None:
            drawn[(stream_id, product_id)] = drawn.get((stream_id, product_id), 0) + from_hold
        rows.append({"product_id": product_id, "quantity": line.quantity, "from_hold": from_hold,
                     "reserved": line.quantity})
    if not short:
        for product_id, (reserved, from_hold) in taken.items():
            product = figures[product_id]
            product.reserved += reserved
            product.held -= from_hold
        for key, units in drawn.items():
            holds[key].remaining -= units
            holds[key].taken += units
        return rows, []
    available = {}
    for line in request.lines:
        product_id = products[line.sku].id
        hold = holds.get((stream_id, product_id)) if stream_id is not None else None
        available[line.sku] = figures[product_id].available + (hold.remaining if hold is not None else 0)
    return [dict(r, reserved=0, from_hold=0) for r in rows], short_lines(request, available)


def short_lines(request: OrderRequest, available: dict[str, int]) -> list[dict]:
    """The lines that cannot be met, each with what is available: `available` maps each SKU of the
    order to the units it can have now (the stream's hold included). A SKU named on several lines is
    short on each when all of them together ask more than it has."""
    needed: dict[str, int] = {}
    for line in request.lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    short = []
    for index, line in enumerate(request.lines):
        units = available[line.sku]
        if needed[line.sku] > units:
            short.append({"line": index, "sku": line.sku, "requested": line.quantity,
                          "available": max(units, 0), "short_by": needed[line.sku] - max(units, 0)})
    return short


def taken(figures: dict[int, Figures], holds: dict[tuple[int, int], Hold]) -> tuple[list, list]:
    """What the decisions took, as deltas for the figures' rows: the products' (pid, d_reserved, d_held)
    and the holds' (sid, pid, taken)."""
    changed = [{"pid": pid, "d_reserved": f.reserved - f.reserved_read, "d_held": f.held - f.held_read}
               for pid, f in figures.items() if f.reserved != f.reserved_read or f.held != f.held_read]
    drawn = [{"sid": sid, "pid": pid, "taken": h.taken} for (sid, pid), h in holds.items() if h.taken]
    return changed, drawn

"""What a call answers for each order: the outcomes known without deciding (resends, repeats within the
call, unknown references) and those of the orders decided."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from supply.db.models import Order
from supply.domain.errors import ConflictingDuplicate, DomainError, InsufficientStock, InvalidInput
from supply.domain.rules import OrderRequest
from supply.services.orders.reads import fresh_order_body, serialize_order
from supply.services.orders.reservation import Decision


@dataclass
class OrderOutcome:
    """`created` (201), `duplicate` (200, the first answer), or an error (409 or 422)."""

    kind: str
    order: dict | None = None
    error: DomainError | None = None


@dataclass
class OutcomeRef:
    """A second send, within one call, of an order first decided at `first`."""

    kind: str
    first: int
    request: OrderRequest

    def resolve(self, first: OrderOutcome, first_request: OrderRequest) -> OrderOutcome:
        order = first.order
        if self.kind == "conflict":
            return OrderOutcome("conflict", error=ConflictingDuplicate(
                f"order {first_request.platform}/{first_request.external_id} was already received with a "
                f"different body", details={"order_id": order["id"]}))
        return OrderOutcome("duplicate", order=order)


def key(request: OrderRequest) -> tuple[str, str]:
    return request.platform, request.external_id


def sort_out(requests: list[OrderRequest], products: dict, streams: set[int],
             existing: dict[tuple[str, str], Order]) -> tuple[list, list[int]]:
    """The outcomes known without deciding (resends, repeats within the call, unknown references) and
    the indexes of the requests left to decide, in order."""
    outcomes: list = [None] * len(requests)
    first_of: dict[tuple[str, str], int] = {}   # an order decided in this call: the index of its first send
    fresh: list[int] = []
    for index, request in enumerate(requests):
        request_key = (request.platform, request.external_id)
        if request_key in existing:
            outcomes[index] = replay(existing[request_key], request)
            continue
        if request_key in first_of:
            first = requests[first_of[request_key]]
            kind = "duplicate" if first.fingerprint() == request.fingerprint() else "conflict"
            outcomes[index] = OutcomeRef(kind, first_of[request_key], request)
            continue
        invalid = unknown_references(request, products, streams)
        if invalid is not None:
            outcomes[index] = invalid
            continue
        first_of[request_key] = index
        fresh.append(index)
    return outcomes, fresh


def finish(requests: list[OrderRequest], outcomes: list, decided: list[Decision], order_ids: list[int],
           now: datetime) -> list[OrderOutcome]:
    """`outcomes` completed with those of the orders decided (written under `order_ids`) and the repeats."""
    for decision, order_id in zip(decided, order_ids):
        outcomes[decision.index] = decided_outcome(order_id, requests[decision.index], decision.rows,
                                                   decision.short, now)
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, OutcomeRef):
            outcomes[index] = outcome.resolve(outcomes[outcome.first], requests[outcome.first])
    return outcomes


def decided_outcome(order_id: int, request: OrderRequest, rows: list[dict], short: list[dict] | None,
                    now: datetime) -> OrderOutcome:
    """The outcome of an order just written: reserved (`short` empty) or refused for its short lines."""
    if not short:
        return OrderOutcome("created", order=fresh_order_body(order_id, request, rows, "reserved", now))
    body = fresh_order_body(order_id, request, rows, "rejected", now, short)
    return OrderOutcome("rejected", order=body, error=insufficient(short, body))


def unknown_references(request: OrderRequest, products: dict, streams: set[int]) -> OrderOutcome | None:
    unknown = {f"lines[{i}].sku": ["unknown sku"] for i, line in enumerate(request.lines)
               if line.sku not in products}
    if request.stream_id is not None and request.stream_id not in streams:
        unknown["stream_id"] = ["unknown stream"]
    if not unknown:
        return None
    return OrderOutcome("invalid", error=InvalidInput("the order names what does not exist",
                                                      fields=unknown, code="unknown_reference"))


def insufficient(short_lines: list[dict], order: dict) -> InsufficientStock:
    return InsufficientStock(
        "not enough stock for every line; nothing was reserved",
        fields={f"lines[{s['line']}].quantity": [f"{s['available']} available, {s['requested']} requested"]
                for s in short_lines},
        details={"short_lines": short_lines, "order": order})


def replay(existing: Order, request: OrderRequest) -> OrderOutcome:
    """The answer to an order stored already: its first answer, unless its body differs."""
    if existing.request_hash != request.fingerprint() and not is_tombstone(existing):
        return OrderOutcome("conflict", error=ConflictingDuplicate(
            f"order {existing.platform}/{existing.external_id} was already received with a different body",
            details={"order_id": existing.id}))
    return OrderOutcome("duplicate", order=serialize_order(existing))


def is_tombstone(order: Order) -> bool:
    """A cancellation that arrived before its order: the order, when it comes, stays cancelled."""
    return order.status == "cancelled" and not order.lines

"""Order intake: every line reserved against available-to-promise atomically, or the order refused.

All orders of one call share one transaction and a handful of statements, so a batch costs about what
one order costs while every order stays all-or-nothing. Balance rows are locked in product order, so
concurrent calls cannot deadlock on them; on PostgreSQL they are locked only once the orders are
written, so a spike's calls for one hot SKU queue behind each other for little more than the commit.
"""
from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
from sqlalchemy import String, and_, any_, bindparam, delete, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import Order, OrderLine, Product, ProductBalance, Stream, StreamHold
from supply.domain.errors import (
    ConflictingDuplicate, DomainError, InsufficientStock, InvalidInput, NotFound, ServiceUnavailable,
)
from supply.domain.rules import OrderRequest, available_to_promise, split_from_hold
from supply.metrics import count_orders
from supply.services.allocation import release_line_allocations


@dataclass
class OrderOutcome:
    """`created` (201), `duplicate` (200, the first answer), or an error (409 or 422)."""

    kind: str
    order: dict | None = None
    error: DomainError | None = None


def record_orders(session: Session, cooperative_id: int, requests: list[OrderRequest], *,
                  before_lock=None) -> list[OrderOutcome]:
    """Reserve each order or refuse it; one outcome per request, in order.

    `before_lock`, if given, is called with the outcomes as decided so far, once the orders are
    written and before the figures are locked: a caller can write what follows from them without
    holding the lock. The outcomes returned are final: the very list given to `before_lock` when
    none changed (on PostgreSQL a few may, when the figures moved before the lock).

    Each order is decided in memory, in turn, all-or-nothing, against the figures of its products (and
    stream holds), and everything decided is written in a few set-based statements. The figures are
    locked in product order, so concurrent calls cannot deadlock on them.

    On PostgreSQL the orders and their lines are written before the figures are locked, on a decision
    made against the figures as read: only the figures' update and the commit wait behind the lock, so
    concurrent calls overlap their writes. Under the lock the orders are decided again unless they are
    bound to come out the same, and the few whose outcome changed are corrected before the commit.
    Elsewhere (SQLite holds the database's write lock for the whole transaction) the figures are read
    first and everything is written after; only when another connection stored one of the same orders
    meanwhile does the call fall back to deciding order by order, each in its own savepoint.
    """
    if session.get_bind().dialect.name == "postgresql":
        outcomes = _record_pg(session, cooperative_id, requests, before_lock)
        count_orders(outcomes)
        return outcomes
    # Looked up before any lock is taken: an order stored by another connection after this point is
    # caught when the orders are inserted, which then gives way to deciding order by order.
    existing = _find_many(session, cooperative_id, {(r.platform, r.external_id) for r in requests})
    streams = _known_streams(session, cooperative_id, {r.stream_id for r in requests if r.stream_id})
    products, balances = _read_products(session, cooperative_id, {line.sku for r in requests for line in r.lines})
    outcomes = _record_in_bulk(session, cooperative_id, requests, products, balances, streams, existing)
    if outcomes is None:
        outcomes = [_record_one(session, cooperative_id, request, products, streams) for request in requests]
    if before_lock is not None:
        before_lock(outcomes)
    count_orders(outcomes)
    return outcomes


def record_order(session: Session, cooperative_id: int, request: OrderRequest) -> OrderOutcome:
    return record_orders(session, cooperative_id, [request])[0]


def lock_products(session: Session, cooperative_id: int, skus: set[str]) -> None:
    """Lock these products' figures, in product order, for the rest of the transaction.

    A caller that will record several orders one after another in one transaction (a platform's
    push of many events) takes every lock first, so two such transactions cannot deadlock.
    """
    _read_products(session, cooperative_id, skus)


@dataclass
class _Decision:
    index: int                  # of the request
    status: str                 # reserved or rejected
    rows: list[dict]            # the order's lines as written
    short: list[dict] | None    # the short lines of a rejected order


def _sort_out(requests: list[OrderRequest], products: dict, streams: set[int],
              existing: dict[tuple[str, str], Order]) -> tuple[list, list[int]]:
    """The outcomes known without deciding (resends, repeats within the call, unknown references) and
    the indexes of the requests left to decide, in order."""
    outcomes: list = [None] * len(requests)
    first_of: dict[tuple[str, str], int] = {}   # an order decided in this call: the index of its first send
    fresh: list[int] = []
    for index, request in enumerate(requests):
        key = (request.platform, request.external_id)
        if key in existing:
            outcomes[index] = _replay(existing[key], request)
            continue
        if key in first_of:
            first = requests[first_of[key]]
            kind = "duplicate" if first.fingerprint() == request.fingerprint() else "conflict"
            outcomes[index] = OutcomeRef(kind, first_of[key], request)
            continue
        invalid = _unknown_references(request, products, streams)
        if invalid is not None:
            outcomes[index] = invalid
            continue
        first_of[key] = index
        fresh.append(index)
    return outcomes, fresh


def _decide(requests: list[OrderRequest], indexes: list[int], products: dict, balances: dict[int, list[int]],
            holds: dict[tuple[int, int], list[int]]) -> list[_Decision]:
    decided = []
    for index in indexes:
        rows, short = _reserve_in_memory(requests[index], products, balances, holds)
        decided.append(_Decision(index, "rejected" if short else "reserved", rows, short or None))
    return decided


def _hold_keys(requests: list[OrderRequest], products: dict, streams: set[int]) -> list[tuple[int, int]]:
    return sorted({(r.stream_id, products[line.sku].id) for r in requests if r.stream_id in streams
                   for line in r.lines if line.sku in products})


def _finish(requests: list[OrderRequest], outcomes: list, decided: list[_Decision], order_ids: list[int],
            now: datetime) -> list[OrderOutcome]:
    for decision, order_id in zip(decided, order_ids):
        request = requests[decision.index]
        body = _fresh_order_body(order_id, request, decision.rows, decision.status, now, decision.short)
        if decision.status == "reserved":
            outcomes[decision.index] = OrderOutcome("created", order=body)
        else:
            outcomes[decision.index] = OrderOutcome("rejected", order=body, error=_insufficient(decision.short, body))
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, OutcomeRef):
            outcomes[index] = outcome.resolve(outcomes[outcome.first], requests[outcome.first])
    return outcomes


def _order_row(cooperative_id: int, request: OrderRequest, decision: _Decision, now: datetime) -> dict:
    return {"cooperative_id": cooperative_id, "platform": request.platform, "external_id": request.external_id,
            "stream_id": request.stream_id, "status": decision.status, "request_hash": request.fingerprint(),
            "rejection": decision.short, "buyer": request.buyer, "created_at": now, "updated_at": now}


def _record_in_bulk(session: Session, cooperative_id: int, requests: list[OrderRequest], products: dict,
                    balances: dict[int, list[int]], streams: set[int],
                    existing: dict[tuple[str, str], Order]) -> list[OrderOutcome] | None:
    """Every order decided against the figures read and written; None (nothing written) when another
    connection stored one of the same orders meanwhile."""
    holds = _read_holds(session, _hold_keys(requests, products, streams))
    outcomes, fresh = _sort_out(requests, products, streams, existing)
    decided = _decide(requests, fresh, products, balances, holds)
    now = datetime.now(timezone.utc)
    order_ids: list[int] = []
    if decided:
        order_ids = _insert_orders(session, [_order_row(cooperative_id, requests[d.index], d, now) for d in decided])
        if order_ids is None:
            return None
        _insert_lines(session, [dict(row, order_id=order_id)
                                for d, order_id in zip(decided, order_ids) for row in d.rows])
        _write_figures(session, balances, holds)
    return _finish(requests, outcomes, decided, order_ids, now)


def _record_pg(session: Session, cooperative_id: int, requests: list[OrderRequest],
               before_lock) -> list[OrderOutcome]:
    """record_orders on PostgreSQL: write the orders, then lock the figures, check, correct, settle."""
    streams = _known_streams(session, cooperative_id, {r.stream_id for r in requests if r.stream_id})
    skus = {line.sku for r in requests for line in r.lines}
    products, seen = _read_products(session, cooperative_id, skus, lock=False)
    hold_keys = _hold_keys(requests, products, streams)
    seen_holds = _read_holds(session, hold_keys, lock=False)
    outcomes, fresh = _sort_out(requests, products, streams, {})
    balances = {pid: list(b) for pid, b in seen.items()}
    holds = {key: list(h) for key, h in seen_holds.items()}
    decided = _decide(requests, fresh, products, balances, holds)
    now = datetime.now(timezone.utc)
    inserted = _insert_orders_pg(session, cooperative_id, requests, decided, now) if decided else {}

    # The orders another connection had stored already get their first answer (repeats included).
    stored = {_key(requests[d.index]): d.index for d in decided if _key(requests[d.index]) not in inserted}
    if stored:
        existing = _find_many(session, cooperative_id, set(stored))
        if len(existing) < len(stored):   # skipped on insert, yet not found: cannot happen, or retry
            raise ServiceUnavailable("an order changed while it was recorded; retry")
        for index, request in enumerate(requests):
            key = _key(request)
            if key in stored and (index == stored[key] or isinstance(outcomes[index], OutcomeRef)):
                outcomes[index] = _replay(existing[key], request)
        decided = [d for d in decided if _key(requests[d.index]) in inserted]

    order_ids = [inserted[_key(requests[d.index])] for d in decided]
    answered = _finish(requests, list(outcomes), decided, order_ids, now)
    if before_lock is not None:
        before_lock(answered)
    if not decided:
        return answered   # nothing takes from the figures

    # Under the lock, as little as can be: decide again unless the decisions are bound to come out the
    # same, correct the orders whose outcome changed, and settle the figures.
    _, locked = _read_products(session, cooperative_id, skus)
    locked_holds = _read_holds(session, hold_keys)
    corrected: list[_Decision] = []
    if not _still_holds(decided, stored, seen, balances, locked, seen_holds, locked_holds):
        balances, holds = locked, locked_holds
        again = _decide(requests, [d.index for d in decided], products, balances, holds)
        corrected = [new for old, new in zip(decided, again)
                     if (old.status, old.rows, old.short) != (new.status, new.rows, new.short)]
        decided = again
    _settle_pg(session, [(inserted[_key(requests[d.index])], d) for d in corrected], balances, holds)
    if corrected:
        answered = _finish(requests, outcomes, decided, order_ids, now)
    return answered


def _key(request: OrderRequest) -> tuple[str, str]:
    return request.platform, request.external_id


def _still_holds(decided: list[_Decision], stored: dict, seen: dict[int, list[int]], after: dict[int, list[int]],
                locked: dict[int, list[int]], seen_holds: dict, locked_holds: dict) -> bool:
    """Whether deciding again on the locked figures would give exactly the decisions made on the
    figures as read (`seen`, which the decisions turned into `after`).

    So when nothing moved; and also when every order was reserved, no order was found stored, the
    holds did not move, and each product still has room, after what others took meanwhile, for all
    that this call takes from it: then every order, in turn, still fits, drawing the same from the
    holds. In a spike other calls reserve between the read and the lock nearly every time, and this
    spares deciding a second time.
    """
    if stored or locked_holds != seen_holds:
        return False
    if all(locked[pid][:3] == seen[pid][:3] for pid in seen):
        return True
    if any(d.status != "reserved" for d in decided):
        return False
    for pid, figures in after.items():
        took = (figures[1] - seen[pid][1]) - (seen[pid][2] - figures[2])   # reserved, less drawn from holds
        if available_to_promise(*locked[pid][:3]) < took:
            return False
    return True


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


def _unknown_references(request: OrderRequest, products: dict, streams: set[int]) -> OrderOutcome | None:
    unknown = {f"lines[{i}].sku": ["unknown sku"] for i, line in enumerate(request.lines)
               if line.sku not in products}
    if request.stream_id is not None and request.stream_id not in streams:
        unknown["stream_id"] = ["unknown stream"]
    if not unknown:
        return None
    return OrderOutcome("invalid", error=InvalidInput("the order names what does not exist",
                                                      fields=unknown, code="unknown_reference"))


def _reserve_in_memory(request: OrderRequest, products: dict, balances: dict[int, list[int]],
                       holds: dict[tuple[int, int], list[int]]) -> tuple[list[dict], list[dict]]:
    """Take every line of the order from the figures (the stream's hold first), or none of it.

    `balances` maps a product to [confirmed, reserved, held, ...], `holds` a (stream, product) to
    [remaining, taken here]; both are changed in place when the order is reserved. Returns the order's
    line rows and, when it cannot be met, its short lines (as `_describe_short` words them).
    """
    stream_id = request.stream_id
    if stream_id is None and len(request.lines) == 1:   # the usual order: one line, no stream
        line = request.lines[0]
        product_id = products[line.sku].id
        balance = balances[product_id]
        if available_to_promise(*balance[:3]) >= line.quantity:
            balance[1] += line.quantity
            return [{"product_id": product_id, "quantity": line.quantity, "from_hold": 0,
                     "reserved": line.quantity}], []
    rows, short = [], False
    taken: dict[int, list[int]] = {}          # product -> [units reserved, units drawn from its hold]
    drawn: dict[tuple[int, int], int] = {}    # hold -> units drawn by the lines before
    for line in request.lines:
        product_id = products[line.sku].id
        balance = balances[product_id]
        so_far = taken.setdefault(product_id, [0, 0])
        hold = holds.get((stream_id, product_id)) if stream_id is not None else None
        left = hold[0] - drawn.get((stream_id, product_id), 0) if hold is not None else 0
        from_hold, from_available = split_from_hold(line.quantity, left)
        if available_to_promise(balance[0], balance[1] + so_far[0], balance[2] - so_far[1]) < from_available:
            short = True
        so_far[0] += line.quantity
        so_far[1] += from_hold
        if hold is not None:
            drawn[(stream_id, product_id)] = drawn.get((stream_id, product_id), 0) + from_hold
        rows.append({"product_id": product_id, "quantity": line.quantity, "from_hold": from_hold,
                     "reserved": line.quantity})
    if not short:
        for product_id, (reserved, from_hold) in taken.items():
            balance = balances[product_id]
            balance[1] += reserved
            balance[2] -= from_hold
        for key, units in drawn.items():
            holds[key][0] -= units
            holds[key][1] += units
        return rows, []
    needed: dict[str, int] = {}
    for line in request.lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    short_lines = []
    for index, line in enumerate(request.lines):
        product_id = products[line.sku].id
        available = available_to_promise(*balances[product_id][:3])
        if request.stream_id is not None:
            available += holds.get((request.stream_id, product_id), [0])[0]
        if needed[line.sku] > available:
            short_lines.append({"line": index, "sku": line.sku, "requested": line.quantity,
                                "available": max(available, 0), "short_by": needed[line.sku] - max(available, 0)})
    return [dict(r, reserved=0, from_hold=0) for r in rows], short_lines


def _taken(balances: dict[int, list[int]], holds: dict[tuple[int, int], list[int]]) -> tuple[list, list]:
    """What `_reserve_in_memory` took, as deltas for the figures' rows: the products' (pid, d_reserved,
    d_held) and the holds' (sid, pid, taken)."""
    changed = [{"pid": pid, "d_reserved": b[1] - b[3], "d_held": b[2] - b[4]}
               for pid, b in balances.items() if b[3:] != b[1:3]]
    drawn = [{"sid": sid, "pid": pid, "taken": h[1]} for (sid, pid), h in holds.items() if h[1]]
    return changed, drawn


def _write_figures(session: Session, balances: dict[int, list[int]], holds: dict[tuple[int, int], list[int]]):
    """Apply what `_reserve_in_memory` took, as deltas on the locked rows."""
    changed, drawn = _taken(balances, holds)
    if changed:
        table = ProductBalance.__table__
        session.execute(table.update().where(table.c.product_id == bindparam("pid"))
                        .values(reserved=table.c.reserved + bindparam("d_reserved"),
                                held=table.c.held + bindparam("d_held")), changed)
    if drawn:
        table = StreamHold.__table__
        session.execute(table.update().where(table.c.stream_id == bindparam("sid"),
                                             table.c.product_id == bindparam("pid"))
                        .values(remaining=table.c.remaining - bindparam("taken")), drawn)


def _insufficient(short_lines: list[dict], order: dict) -> InsufficientStock:
    return InsufficientStock(
        "not enough stock for every line; nothing was reserved",
        fields={f"lines[{s['line']}].quantity": [f"{s['available']} available, {s['requested']} requested"]
                for s in short_lines},
        details={"short_lines": short_lines, "order": order})


def _record_one(session: Session, cooperative_id: int, request: OrderRequest, products: dict,
                streams: set[int]) -> OrderOutcome:
    existing = _find(session, cooperative_id, request.platform, request.external_id)
    if existing is not None:
        return _replay(existing, request)
    unknown = {f"lines[{i}].sku": ["unknown sku"] for i, line in enumerate(request.lines)
               if line.sku not in products}
    if request.stream_id is not None and request.stream_id not in streams:
        unknown["stream_id"] = ["unknown stream"]
    if unknown:
        return OrderOutcome("invalid", error=InvalidInput("the order names what does not exist",
                                                          fields=unknown, code="unknown_reference"))
    now = datetime.now(timezone.utc)
    savepoint = session.begin_nested()
    try:
        order_id = _insert_order(session, cooperative_id, request, "reserved", now=now)
    except IntegrityError:
        # The same order arrived on another connection a moment ago.
        savepoint.rollback()
        existing = _find(session, cooperative_id, request.platform, request.external_id)
        if existing is None:
            raise
        return _replay(existing, request)
    rows, short = _reserve_lines(session, order_id, request, products)
    if short:
        savepoint.rollback()
        short_lines = _describe_short(session, request, products)
        rejected_id = _insert_order(session, cooperative_id, request, "rejected", rejection=short_lines, now=now)
        rows = [dict(r, order_id=rejected_id, reserved=0, from_hold=0) for r in rows]
        _insert_lines(session, rows)
        error = InsufficientStock(
            "not enough stock for every line; nothing was reserved",
            fields={f"lines[{s['line']}].quantity": [f"{s['available']} available, {s['requested']} requested"]
                    for s in short_lines},
            details={"short_lines": short_lines,
                     "order": _fresh_order_body(rejected_id, request, rows, "rejected", now, short_lines)})
        return OrderOutcome("rejected", order=error.details["order"], error=error)
    _insert_lines(session, rows)
    savepoint.commit()
    return OrderOutcome("created", order=_fresh_order_body(order_id, request, rows, "reserved", now))


def _reserve_lines(session: Session, order_id: int, request: OrderRequest, products: dict):
    rows, short = [], False
    for line in request.lines:
        product = products[line.sku]
        from_hold = 0
        if request.stream_id is not None:
            from_hold = _draw_from_hold(session, request.stream_id, product.id, line.quantity)
        from_available = line.quantity - from_hold
        result = session.execute(
            update(ProductBalance)
            .where(ProductBalance.product_id == product.id,
                   ProductBalance.confirmed + ProductBalance.backordered - ProductBalance.reserved
                   - ProductBalance.held >= from_available)
            .values(reserved=ProductBalance.reserved + line.quantity, held=ProductBalance.held - from_hold)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            short = True
        rows.append({"order_id": order_id, "product_id": product.id, "quantity": line.quantity,
                     "from_hold": from_hold, "reserved": line.quantity})
    return rows, short


def _draw_from_hold(session: Session, stream_id: int, product_id: int, quantity: int) -> int:
    remaining = session.execute(
        select(StreamHold.remaining)
        .where(StreamHold.stream_id == stream_id, StreamHold.product_id == product_id)
        .with_for_update()).scalar()
    from_hold, _ = split_from_hold(quantity, remaining or 0)
    if from_hold:
        session.execute(update(StreamHold)
                        .where(StreamHold.stream_id == stream_id, StreamHold.product_id == product_id)
                        .values(remaining=StreamHold.remaining - from_hold)
                        .execution_options(synchronize_session=False))
    return from_hold


def _describe_short(session: Session, request: OrderRequest, products: dict) -> list[dict]:
    """The lines that cannot be met now, each with what is available (read after the rollback)."""
    needed: dict[str, int] = {}
    for line in request.lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    short = []
    for index, line in enumerate(request.lines):
        product = products[line.sku]
        balance = session.get(ProductBalance, product.id, populate_existing=True)
        available = available_to_promise(balance.confirmed + balance.backordered, balance.reserved, balance.held)
        if request.stream_id is not None:
            hold = session.get(StreamHold, (request.stream_id, product.id), populate_existing=True)
            available += hold.remaining if hold else 0
        if needed[line.sku] > available:
            short.append({"line": index, "sku": line.sku, "requested": line.quantity,
                          "available": max(available, 0), "short_by": needed[line.sku] - max(available, 0)})
    return short


def _replay(existing: Order, request: OrderRequest) -> OrderOutcome:
    if existing.request_hash != request.fingerprint() and not _is_tombstone(existing):
        return OrderOutcome("conflict", error=ConflictingDuplicate(
            f"order {existing.platform}/{existing.external_id} was already received with a different body",
            details={"order_id": existing.id}))
    return OrderOutcome("duplicate", order=serialize_order(existing))


def _is_tombstone(order: Order) -> bool:
    """A cancellation that arrived before its order: the order, when it comes, stays cancelled."""
    return order.status == "cancelled" and not order.lines


def cancel_order(session: Session, cooperative_id: int, order_id: int) -> dict:
    order = session.execute(select(Order).where(Order.id == order_id, Order.cooperative_id == cooperative_id)
                            .with_for_update()).scalar()
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    _release(session, order)
    return serialize_order(order)


def cancel_order_by_external_id(session: Session, cooperative_id: int, platform: str, external_id: str) -> dict:
    """Cancel by the platform's id; a cancel that arrives first leaves a tombstone the order will meet."""
    order = session.execute(select(Order).where(
        Order.cooperative_id == cooperative_id, Order.platform == platform,
        Order.external_id == external_id).with_for_update()).scalar()
    if order is None:
        savepoint = session.begin_nested()
        try:
            order_id = _insert_order(session, cooperative_id,
                                     OrderRequest(platform=platform, external_id=external_id, lines=()),
                                     "cancelled", request_hash="")
            savepoint.commit()
            return _load(session, order_id)
        except IntegrityError:
            savepoint.rollback()
            return cancel_order_by_external_id(session, cooperative_id, platform, external_id)
    _release(session, order)
    return serialize_order(order)


def _release(session: Session, order: Order) -> None:
    if order.status != "reserved":
        return
    # Figures first, in product order, then the stream's holds: the order in which intake locks them,
    # so a cancel and an order from the same stream cannot deadlock.
    given_back: list[tuple[int, int]] = []
    for line in sorted(order.lines, key=lambda line: line.product_id):
        if line.reserved == 0:
            continue
        if line.allocated:
            release_line_allocations(session, line, actor="order cancelled")
        # Backordered units were never backed by stock: they return to neither the hold nor ATP.
        backordered = line.backordered
        give_back_to_hold = min(line.from_hold, line.reserved - backordered) if order.stream_id is not None else 0
        session.execute(update(ProductBalance).where(ProductBalance.product_id == line.product_id)
                        .values(reserved=ProductBalance.reserved - line.reserved,
                                backordered=ProductBalance.backordered - backordered,
                                held=ProductBalance.held + give_back_to_hold)
                        .execution_options(synchronize_session=False))
        if give_back_to_hold:
            given_back.append((line.product_id, give_back_to_hold))
        line.reserved = 0
        line.backordered = 0
    for product_id, quantity in given_back:
        session.execute(update(StreamHold)
                        .where(StreamHold.stream_id == order.stream_id, StreamHold.product_id == product_id)
                        .values(remaining=StreamHold.remaining + quantity)
                        .execution_options(synchronize_session=False))
    order.status = "cancelled"
    order.updated_at = datetime.now(timezone.utc)
    session.flush()


def get_order(session: Session, cooperative_id: int, order_id: int) -> dict:
    order = session.execute(select(Order).where(Order.id == order_id, Order.cooperative_id == cooperative_id)
                            ).scalar()
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    from supply.services.pickups import order_allocations

    body = serialize_order(order, with_buyer=True)
    body["allocations"] = order_allocations(session, order)
    for line, out in zip(order.lines, body["lines"]):
        out.update(allocated=line.allocated, backordered=line.backordered, collected=line.collected)
    return body


def serialize_order(order: Order, *, with_buyer: bool = False) -> dict:
    body = {
        "id": order.id,
        "platform": order.platform,
        "external_id": order.external_id,
        "stream_id": order.stream_id,
        "status": order.status,
        "created_at": order.created_at,
        "lines": [{"sku": line.product.sku, "quantity": line.quantity, "from_hold": line.from_hold,
                   "reserved": line.reserved} for line in order.lines],
    }
    if order.rejection:
        body["short_lines"] = order.rejection
    if with_buyer:
        body["buyer"] = order.buyer
    return body


def _read_products(session: Session, cooperative_id: int, skus: set[str], *,
                   lock: bool = True) -> tuple[dict, dict]:
    """The products named (sku -> row with .id) and their figures, in one read; locked (unless `lock`
    is false) in product order, so there are no deadlocks.

    Each figure is [confirmed, reserved, held, reserved as read, held as read]. Backordered units are
    reserved without stock behind them, so they count on the confirmed side (only reserved and held are
    written back). SQLite has no row locks; there every write transaction begins IMMEDIATE, so it holds
    the database's write lock already.
    """
    if not skus:
        return {}, {}
    if session.get_bind().dialect.name == "postgresql":
        query = _PRODUCTS_LOCKED_PG if lock else _PRODUCTS_PG
    else:
        query = _PRODUCTS
    products, balances = {}, {}
    # On the connection itself: the ORM's handling of a statement of columns cost more than the read.
    for row in session.connection().execute(query, {"cooperative_id": cooperative_id, "skus": sorted(skus)}):
        products[row.sku] = row
        balances[row.id] = [row.confirmed + row.backordered, row.reserved, row.held, row.reserved, row.held]
    return products, balances


# Built once: a single order's transaction reads these twice, and building the statement each time
# cost more CPU than the rest of recording the order.
_FIGURES = (select(Product.id, Product.sku, ProductBalance.confirmed, ProductBalance.backordered,
                   ProductBalance.reserved, ProductBalance.held)
            .join(ProductBalance, ProductBalance.product_id == Product.id)
            .where(Product.cooperative_id == bindparam("cooperative_id"))
            .order_by(Product.id))
_PRODUCTS = _FIGURES.where(Product.sku.in_(bindparam("skus", expanding=True)))
_PRODUCTS_PG = _FIGURES.where(Product.sku == any_(bindparam("skus", type_=ARRAY(String))))
_PRODUCTS_LOCKED_PG = _PRODUCTS_PG.with_for_update(of=ProductBalance)


def _read_holds(session: Session, keys: list[tuple[int, int]], *,
                lock: bool = True) -> dict[tuple[int, int], list[int]]:
    """Read (and lock, unless `lock` is false) the streams' holds concerned: (stream, product) ->
    [remaining, taken here]."""
    if not keys:
        return {}
    query = (select(StreamHold.stream_id, StreamHold.product_id, StreamHold.remaining)
             .where(tuple_(StreamHold.stream_id, StreamHold.product_id).in_(keys))
             .order_by(StreamHold.stream_id, StreamHold.product_id))
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    return {(sid, pid): [remaining, 0] for sid, pid, remaining in session.execute(query)}


def _find_many(session: Session, cooperative_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Order]:
    """The orders already stored under these keys (usually none: only resends find any)."""
    if not keys:
        return {}
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in keys:
        by_platform.setdefault(platform, []).append(external_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    found_ids: list[int] = []
    for platform, external_ids in by_platform.items():
        if postgres:
            # The ids as one JSON document: a statement of constant text, however many keys.
            found_ids += session.execute(_FIND_PG, {"cooperative_id": cooperative_id, "platform": platform,
                                                    "ids": orjson.dumps(external_ids).decode()}).scalars()
        else:
            found_ids += session.execute(select(Order.id).where(
                Order.cooperative_id == cooperative_id, Order.platform == platform,
                Order.external_id.in_(external_ids))).scalars()
    if not found_ids:
        return {}
    found = session.execute(select(Order).where(Order.id.in_(found_ids)))
    return {(o.platform, o.external_id): o for o in found.scalars()}


# One index look-up per key, whatever the statistics say: in the first minute of a spike they still
# describe an empty table, and a join planned on them read every order of the platform per call.
_FIND_PG = text("""
    SELECT o.id FROM json_array_elements_text(CAST(:ids AS json)) AS k(external_id)
    CROSS JOIN LATERAL (
        SELECT id FROM orders WHERE cooperative_id = :cooperative_id AND platform = :platform
                                AND external_id = k.external_id
        LIMIT 1) AS o""")


def _known_streams(session: Session, cooperative_id: int, stream_ids: set[int]) -> set[int]:
    if not stream_ids:
        return set()
    return set(session.execute(select(Stream.id).where(and_(Stream.cooperative_id == cooperative_id,
                                                             Stream.id.in_(stream_ids)))).scalars())


def _find(session: Session, cooperative_id: int, platform: str, external_id: str) -> Order | None:
    return session.execute(select(Order).where(Order.cooperative_id == cooperative_id,
                                               Order.platform == platform,
                                               Order.external_id == external_id)).scalar()


def _insert_order(session: Session, cooperative_id: int, request: OrderRequest, status: str, *,
                  rejection: list | None = None, request_hash: str | None = None,
                  now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    return session.execute(insert(Order).values(
        cooperative_id=cooperative_id, platform=request.platform, external_id=request.external_id,
        stream_id=request.stream_id, status=status,
        request_hash=request.fingerprint() if request_hash is None else request_hash,
        rejection=rejection, buyer=request.buyer, created_at=now, updated_at=now,
    ).returning(Order.id)).scalar_one()


def _insert_orders(session: Session, rows: list[dict]) -> list[int] | None:
    """Insert these orders; their ids, in the same order. None, with nothing inserted, when one of
    them is stored already (another connection got it first)."""
    stored = session.execute(
        sqlite_insert(Order).on_conflict_do_nothing(index_elements=["cooperative_id", "platform", "external_id"])
        .returning(Order.id, Order.platform, Order.external_id), rows).all()
    ids = {(platform, external_id): order_id for order_id, platform, external_id in stored}
    if len(ids) < len(rows):
        if ids:
            session.execute(delete(Order).where(Order.id.in_(list(ids.values()))))
        return None
    return [ids[(row["platform"], row["external_id"])] for row in rows]


def _insert_orders_pg(session: Session, cooperative_id: int, requests: list[OrderRequest],
                      decided: list[_Decision], now: datetime) -> dict[tuple[str, str], int]:
    """Insert the decided orders with their lines, skipping those stored already (by another
    connection): (platform, external id) -> id of each order inserted.

    Rows go in key order, so two calls inserting some of the same orders take their keys in the same
    order and cannot deadlock on them; and nothing is locked yet that another call could wait for.
    The statement's text is the same for any number of orders: the rows travel as JSON documents,
    which PostgreSQL reads faster than the driver can spell out arrays.
    """
    ordered = sorted(decided, key=lambda d: _key(requests[d.index]))
    order_rows, line_rows = [], []
    for n, decision in enumerate(ordered):
        request = requests[decision.index]
        order_rows.append({"platform": request.platform, "external_id": request.external_id,
                           "stream_id": request.stream_id, "status": decision.status,
                           "request_hash": request.fingerprint(), "rejection": decision.short,
                           "buyer": request.buyer, "n": n})
        for row in decision.rows:
            line_rows.append({"platform": request.platform, "external_id": request.external_id,
                              "product_id": row["product_id"], "quantity": row["quantity"],
                              "from_hold": row["from_hold"], "reserved": row["reserved"], "n": len(line_rows)})
    stored = session.connection().execute(_INSERT_PG, {"cooperative_id": cooperative_id, "now": now,
                                          "orders": orjson.dumps(order_rows).decode(),
                                          "lines": orjson.dumps(line_rows).decode()}).all()
    return {(platform, external_id): order_id for order_id, platform, external_id in stored}


def _settle_pg(session: Session, corrected: list[tuple[int, _Decision]], balances: dict[int, list[int]],
               holds: dict[tuple[int, int], list[int]]) -> None:
    """Under the lock: the corrected orders (status, short lines and lines) and the figures, in one
    statement."""
    changed, drawn = _taken(balances, holds)
    if not (changed or drawn or corrected):
        return
    fixes = [{"id": order_id, "status": d.status, "rejection": d.short} for order_id, d in corrected]
    lines = [{"order_id": order_id, "product_id": row["product_id"], "quantity": row["quantity"],
              "from_hold": row["from_hold"], "reserved": row["reserved"]}
             for order_id, d in corrected for row in d.rows]
    for n, row in enumerate(lines):
        row["n"] = n
    session.connection().execute(_SETTLE_PG, {
        "fixes": orjson.dumps(fixes).decode(), "lines": orjson.dumps(lines).decode(),
        "balances": orjson.dumps(changed).decode(), "holds": orjson.dumps(drawn).decode()})


_INSERT_PG = text("""
    WITH o AS (
        INSERT INTO orders (cooperative_id, platform, external_id, stream_id, status, request_hash, rejection,
                            buyer, created_at, updated_at)
        SELECT :cooperative_id, u.platform, u.external_id, u.stream_id, u.status, u.request_hash, u.rejection,
               u.buyer, :now, :now
        FROM json_to_recordset(CAST(:orders AS json))
             AS u(platform varchar, external_id varchar, stream_id integer, status varchar,
                  request_hash varchar, rejection json, buyer json, n bigint)
        ORDER BY u.n
        ON CONFLICT (cooperative_id, platform, external_id) DO NOTHING
        RETURNING id, platform, external_id
    ), l AS (
        INSERT INTO order_lines (order_id, product_id, quantity, from_hold, reserved, allocated, backordered,
                                 collected)
        SELECT o.id, v.product_id, v.quantity, v.from_hold, v.reserved, 0, 0, 0
        FROM json_to_recordset(CAST(:lines AS json))
             AS v(platform varchar, external_id varchar, product_id integer, quantity bigint, from_hold bigint,
                  reserved bigint, n bigint)
        JOIN o ON o.platform = v.platform AND o.external_id = v.external_id
        ORDER BY v.n
    )
    SELECT id, platform, external_id FROM o""")

# A corrected order's lines are written again (in their order, so they keep it by id); it is new, so
# nothing refers to them yet.
_SETTLE_PG = text("""
    WITH f AS (
        UPDATE orders SET status = x.status, rejection = x.rejection
        FROM json_to_recordset(CAST(:fixes AS json)) AS x(id bigint, status varchar, rejection json)
        WHERE orders.id = x.id
    ), gone AS (
        DELETE FROM order_lines WHERE order_id IN (
            SELECT x.id FROM json_to_recordset(CAST(:fixes AS json)) AS x(id bigint))
    ), l AS (
        INSERT INTO order_lines (order_id, product_id, quantity, from_hold, reserved, allocated, backordered,
                                 collected)
        SELECT v.order_id, v.product_id, v.quantity, v.from_hold, v.reserved, 0, 0, 0
        FROM json_to_recordset(CAST(:lines AS json))
             AS v(order_id bigint, product_id integer, quantity bigint, from_hold bigint, reserved bigint, n bigint)
        ORDER BY v.n
    ), b AS (
        UPDATE product_balances SET reserved = product_balances.reserved + d.d_reserved,
                                    held = product_balances.held + d.d_held
        FROM json_to_recordset(CAST(:balances AS json)) AS d(pid integer, d_reserved bigint, d_held bigint)
        WHERE product_balances.product_id = d.pid
    )
    UPDATE stream_holds SET remaining = stream_holds.remaining - d.taken
    FROM json_to_recordset(CAST(:holds AS json)) AS d(sid integer, pid integer, taken bigint)
    WHERE stream_holds.stream_id = d.sid AND stream_holds.product_id = d.pid""")


def _insert_lines(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(OrderLine), rows)


def _fresh_order_body(order_id: int, request: OrderRequest, rows: list[dict], status: str,
                      created_at: datetime, short_lines: list | None = None) -> dict:
    """The answer for an order just written, built from what was written (no read back)."""
    body = {
        "id": order_id, "platform": request.platform, "external_id": request.external_id,
        "stream_id": request.stream_id, "status": status, "created_at": created_at,
        "lines": [{"sku": line.sku, "quantity": row["quantity"], "from_hold": row["from_hold"],
                   "reserved": row["reserved"]} for line, row in zip(request.lines, rows)],
    }
    if short_lines:
        body["short_lines"] = short_lines
    return body


def _load(session: Session, order_id: int) -> dict:
    order = session.execute(select(Order).where(Order.id == order_id)
                            .execution_options(populate_existing=True)).scalar_one()
    return serialize_order(order)


class OrderCombiner:
    """Groups the single orders that arrive together in one process into one transaction.

    Under a burst, dozens of requests for the same SKU would otherwise queue on its balance row, each
    holding the row lock for several round trips of its own. Here a request queues its order and waits;
    one thread takes whatever is queued, records it all with `record_orders` (each order still
    all-or-nothing) and commits, and only then hands each request its outcome, so an acknowledged order
    is always stored. A request waits at most one transaction more than it would alone.
    """

    def __init__(self, database, *, max_group: int = 500, idle_s: float = 10.0):
        self.database = database
        self.max_group = max_group
        self.idle_s = idle_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def record(self, cooperative_id: int, request: OrderRequest) -> OrderOutcome:
        slot = _Slot()
        with self._lock:  # the thread only stops under this lock, and only with nothing queued
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="order-combiner", daemon=True)
                self._thread.start()
            self._queue.put((cooperative_id, request, slot))
        return slot.wait()

    def _run(self) -> None:
        while True:
            try:
                group = [self._queue.get(timeout=self.idle_s)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(group) < self.max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_cooperative: dict[int, list] = {}
            for item in group:
                by_cooperative.setdefault(item[0], []).append(item)
            for cooperative_id, items in by_cooperative.items():
                self._record(cooperative_id, items)

    def _record(self, cooperative_id: int, items: list) -> None:
        try:
            outcomes = self.database.run(
                lambda session: record_orders(session, cooperative_id, [request for _, request, _ in items]))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            if len(items) == 1 or isinstance(exc, ServiceUnavailable):
                for _, _, slot in items:
                    slot.fail(exc)
                return
            # One order broke the group's transaction: record each alone, so only that one fails.
            for item in items:
                self._record(cooperative_id, [item])
            return
        for (_, _, slot), outcome in zip(items, outcomes):
            slot.give(outcome)


class _Slot:
    __slots__ = ("_done", "_outcome", "_error")

    def __init__(self):
        self._done = threading.Event()
        self._outcome: OrderOutcome | None = None
        self._error: BaseException | None = None

    def give(self, outcome: OrderOutcome) -> None:
        self._outcome = outcome
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> OrderOutcome:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._outcome

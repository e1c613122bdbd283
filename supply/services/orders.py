"""Order intake: every line reserved against available-to-promise atomically, or the order refused.

All orders of one call share one transaction, each inside its own savepoint, so a batch costs one
commit while every order stays all-or-nothing. Balance rows are locked in product order before any
order is looked at, so concurrent calls cannot deadlock on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import Order, OrderLine, Product, ProductBalance, Stream, StreamHold
from supply.domain.errors import (
    ConflictingDuplicate, DomainError, InsufficientStock, InvalidInput, NotFound,
)
from supply.domain.rules import OrderRequest, available_to_promise, split_from_hold
from supply.services.allocation import release_line_allocations


@dataclass
class OrderOutcome:
    """`created` (201), `duplicate` (200, the first answer), or an error (409 or 422)."""

    kind: str
    order: dict | None = None
    error: DomainError | None = None


def record_orders(session: Session, cooperative_id: int, requests: list[OrderRequest]) -> list[OrderOutcome]:
    """Reserve each order or refuse it; one outcome per request, in order."""
    products = _products_by_sku(session, cooperative_id, {line.sku for r in requests for line in r.lines})
    _lock_balances(session, sorted({products[line.sku].id for r in requests for line in r.lines
                                    if line.sku in products}))
    streams = _known_streams(session, cooperative_id, {r.stream_id for r in requests if r.stream_id})
    return [_record_one(session, cooperative_id, request, products, streams) for request in requests]


def record_order(session: Session, cooperative_id: int, request: OrderRequest) -> OrderOutcome:
    return record_orders(session, cooperative_id, [request])[0]


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
    savepoint = session.begin_nested()
    try:
        order_id = _insert_order(session, cooperative_id, request, "reserved")
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
        rejected_id = _insert_order(session, cooperative_id, request, "rejected", rejection=short_lines)
        rows = [dict(r, order_id=rejected_id, reserved=0, from_hold=0) for r in rows]
        _insert_lines(session, rows)
        error = InsufficientStock(
            "not enough stock for every line; nothing was reserved",
            fields={f"lines[{s['line']}].quantity": [f"{s['available']} available, {s['requested']} requested"]
                    for s in short_lines},
            details={"short_lines": short_lines,
                     "order": _fresh_order_body(rejected_id, request, rows, "rejected", short_lines)})
        return OrderOutcome("rejected", order=error.details["order"], error=error)
    _insert_lines(session, rows)
    savepoint.commit()
    return OrderOutcome("created", order=_fresh_order_body(order_id, request, rows, "reserved"))


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
                   ProductBalance.confirmed - ProductBalance.reserved - ProductBalance.held >= from_available)
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
        available = available_to_promise(balance.confirmed, balance.reserved, balance.held)
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
    lines = sorted(order.lines, key=lambda line: line.product_id)
    for line in lines:
        if line.reserved == 0:
            continue
        if line.allocated:
            release_line_allocations(session, line, actor="order cancelled")
        # Backordered units were never backed by stock: they return to neither the hold nor ATP.
        backordered = line.backordered
        give_back_to_hold = min(line.from_hold, line.reserved - backordered) if order.stream_id is not None else 0
        if give_back_to_hold:
            session.execute(update(StreamHold)
                            .where(StreamHold.stream_id == order.stream_id,
                                   StreamHold.product_id == line.product_id)
                            .values(remaining=StreamHold.remaining + give_back_to_hold)
                            .execution_options(synchronize_session=False))
        session.execute(update(ProductBalance).where(ProductBalance.product_id == line.product_id)
                        .values(reserved=ProductBalance.reserved - line.reserved,
                                backordered=ProductBalance.backordered - backordered,
                                held=ProductBalance.held + give_back_to_hold)
                        .execution_options(synchronize_session=False))
        line.reserved = 0
        line.backordered = 0
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


def _products_by_sku(session: Session, cooperative_id: int, skus: set[str]) -> dict[str, Product]:
    if not skus:
        return {}
    rows = session.execute(select(Product).where(Product.cooperative_id == cooperative_id,
                                                 Product.sku.in_(skus))).scalars()
    return {p.sku: p for p in rows}


def _lock_balances(session: Session, product_ids: list[int]) -> None:
    if product_ids and session.get_bind().dialect.name != "sqlite":
        session.execute(select(ProductBalance.product_id).where(ProductBalance.product_id.in_(product_ids))
                        .order_by(ProductBalance.product_id).with_for_update())


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
                  rejection: list | None = None, request_hash: str | None = None) -> int:
    now = datetime.now(timezone.utc)
    return session.execute(insert(Order).values(
        cooperative_id=cooperative_id, platform=request.platform, external_id=request.external_id,
        stream_id=request.stream_id, status=status,
        request_hash=request.fingerprint() if request_hash is None else request_hash,
        rejection=rejection, buyer=request.buyer, created_at=now, updated_at=now,
    ).returning(Order.id)).scalar_one()


def _insert_lines(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(OrderLine), rows)


def _fresh_order_body(order_id: int, request: OrderRequest, rows: list[dict], status: str,
                      short_lines: list | None = None) -> dict:
    """The answer for an order just written, built from what was written (no read back)."""
    body = {
        "id": order_id, "platform": request.platform, "external_id": request.external_id,
        "stream_id": request.stream_id, "status": status, "created_at": datetime.now(timezone.utc),
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

"""Recording order by order, each in its own savepoint: the fallback when another connection stored
one of the same orders while a bulk call was deciding. The reservation rule is applied in SQL here,
line by line (a conditional update of the figures); a refusal is worded by `short_lines`, as in
memory."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import Order, ProductBalance, StreamHold
from supply.domain.rules import OrderRequest, available_to_promise, split_from_hold
from supply.services.orders.bulk import insert_lines
from supply.services.orders.lookups import find
from supply.services.orders.outcomes import OrderOutcome, decided_outcome, replay, unknown_references
from supply.services.orders.reservation import short_lines


def record_one(session: Session, cooperative_id: int, request: OrderRequest, products: dict,
               streams: set[int]) -> OrderOutcome:
    existing = find(session, cooperative_id, request.platform, request.external_id)
    if existing is not None:
        return replay(existing, request)
    invalid = unknown_references(request, products, streams)
    if invalid is not None:
        return invalid
    now = datetime.now(timezone.utc)
    savepoint = session.begin_nested()
    try:
        order_id = insert_order(session, cooperative_id, request, "reserved", now=now)
    except IntegrityError:
        # The same order arrived on another connection a moment ago.
        savepoint.rollback()
        existing = find(session, cooperative_id, request.platform, request.external_id)
        if existing is None:
            raise
        return replay(existing, request)
    rows, short = _reserve_lines(session, order_id, request, products)
    if short:
        savepoint.rollback()
        short = short_lines(request, _available_now(session, request, products))
        order_id = insert_order(session, cooperative_id, request, "rejected", rejection=short, now=now)
        rows = [dict(r, order_id=order_id, reserved=0, from_hold=0) for r in rows]
        insert_lines(session, rows)
        return decided_outcome(order_id, request, rows, short, now)
    insert_lines(session, rows)
    savepoint.commit()
    return decided_outcome(order_id, request, rows, None, now)


def insert_order(session: Session, cooperative_id: int, request: OrderRequest, status: str, *,
                 rejection: list | None = None, request_hash: str | None = None,
                 now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    return session.execute(insert(Order).values(
        cooperative_id=cooperative_id, platform=request.platform, external_id=request.external_id,
        stream_id=request.stream_id, status=status,
        request_hash=request.fingerprint() if request_hash is None else request_hash,
        rejection=rejection, buyer=request.buyer, created_at=now, updated_at=now,
    ).returning(Order.id)).scalar_one()


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


def _available_now(session: Session, request: OrderRequest, products: dict) -> dict[str, int]:
    """What each SKU of the order can have now, its stream's hold included (read after the rollback)."""
    available = {}
    for sku in dict.fromkeys(line.sku for line in request.lines):
        product = products[sku]
        balance = session.get(ProductBalance, product.id, populate_existing=True)
        units = available_to_promise(balance.confirmed + balance.backordered, balance.reserved, balance.held)
        if request.stream_id is not None:
            hold = session.get(StreamHold, (request.stream_id, product.id), populate_existing=True)
            units += hold.remaining if hold else 0
        available[sku] = units
    return available

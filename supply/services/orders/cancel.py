"""Cancelling an order: its reserved units go back to the figures and its stream's hold."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import Order, ProductBalance, StreamHold
from supply.domain.errors import NotFound
from supply.domain.rules import OrderRequest
from supply.services.allocation import release_line_allocations
from supply.services.orders.one_by_one import insert_order
from supply.services.orders.reads import load_order, serialize_order


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
            order_id = insert_order(session, cooperative_id,
                                    OrderRequest(platform=platform, external_id=external_id, lines=()),
                                    "cancelled", request_hash="")
            savepoint.commit()
            return load_order(session, order_id)
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

"""Reading orders back, and the one shape an order takes as the services answer it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from supply.db.models import Order
from supply.db.platform_links import PlatformShipment
from supply.domain.errors import NotFound
from supply.domain.rules import OrderRequest


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
    shipment = session.execute(select(PlatformShipment).where(PlatformShipment.order_id == order.id)).scalar()
    body["shipment"] = None if shipment is None else {
        "carrier_code": shipment.carrier_code, "waybill": shipment.waybill, "status": shipment.status,
        "confirmed_at": shipment.confirmed_at}
    return body


def serialize_order(order: Order, *, with_buyer: bool = False) -> dict:
    """A stored order, as `order_body` shapes it (with the buyer when asked)."""
    body = order_body(order.id, order.platform, order.external_id, order.stream_id, order.status,
                      order.created_at,
                      [{"sku": line.product.sku, "quantity": line.quantity, "from_hold": line.from_hold,
                        "reserved": line.reserved} for line in order.lines],
                      order.rejection)
    if with_buyer:
        body["buyer"] = order.buyer
    return body


def fresh_order_body(order_id: int, request: OrderRequest, rows: list[dict], status: str,
                     created_at: datetime, short_lines: list | None = None) -> dict:
    """The answer for an order just written, built from what was written (no read back)."""
    return order_body(order_id, request.platform, request.external_id, request.stream_id, status, created_at,
                      [{"sku": line.sku, "quantity": row["quantity"], "from_hold": row["from_hold"],
                        "reserved": row["reserved"]} for line, row in zip(request.lines, rows)],
                      short_lines)


def order_body(order_id: int, platform: str, external_id: str, stream_id: int | None, status: str,
               created_at: datetime, lines: list[dict], short_lines: list | None) -> dict:
    """An order as the services answer it: `lines` as {sku, quantity, from_hold, reserved}, and
    `short_lines` only when it was refused for them. The API dumps this shape (OrderOut, or its fast
    dumper `supply.api.order_shape.order_out`)."""
    body = {"id": order_id, "platform": platform, "external_id": external_id, "stream_id": stream_id,
            "status": status, "created_at": created_at, "lines": lines}
    if short_lines:
        body["short_lines"] = short_lines
    return body


def load_order(session: Session, order_id: int) -> dict:
    order = session.execute(select(Order).where(Order.id == order_id)
                            .execution_options(populate_existing=True)).scalar_one()
    return serialize_order(order)

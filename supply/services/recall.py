"""Traceability and recall: from a farm, a product and pickup days to every order that received those
units (platform and platform order id), and back from an order to the farms and days its units came from.

The link is the allocation: a LineAllocation row says which pickup (farm x product x day) supplies which
order line, and its `collected` says how many of those units a truck really took. A recall lists the
orders, marks them (recall_lines) and holds what is still at the hub (the order has no waybill yet)
from further dispatch: `held_orders` / `refuse_if_held` are what shipping asks.

Buyers' personal data appear only in the manager's CSV export with buyers, and each export is logged.
"""
from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply import i18n
from supply.db.farmside import PersonalDataExport, Recall, RecallLine
from supply.db.models import Farm, LineAllocation, Order, OrderLine, Pickup, Product
from supply.domain.errors import Conflict, InvalidInput, NotFound
from supply.services.prices import _product


def _shipped(session: Session, order_ids: set[int]) -> set[int]:
    """Orders that already left the hub with a waybill."""
    if not order_ids:
        return set()
    from supply.db.platform_links import PlatformShipment

    return set(session.execute(select(PlatformShipment.order_id)
                               .where(PlatformShipment.order_id.in_(order_ids))).scalars())


def trace_forward(session: Session, cooperative_id: int, *, farm_id: int, sku: str, date_from: date,
                  date_to: date) -> list[dict]:
    """Every order line that received collected units of this farm's product picked up on these days."""
    if date_to < date_from:
        raise InvalidInput("the range ends before it starts", fields={"date_to": ["must not be before date_from"]})
    farm = session.get(Farm, farm_id)
    if farm is None or farm.cooperative_id != cooperative_id:
        raise NotFound(f"farm {farm_id} does not exist")
    product = _product(session, cooperative_id, sku)
    rows = session.execute(
        select(LineAllocation, Pickup, OrderLine, Order)
        .join(Pickup, Pickup.id == LineAllocation.pickup_id)
        .join(OrderLine, OrderLine.id == LineAllocation.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Pickup.cooperative_id == cooperative_id, Pickup.farm_id == farm_id, Pickup.product_id == product.id,
               Pickup.date >= date_from, Pickup.date <= date_to, LineAllocation.collected > 0)
        .order_by(Pickup.date, Order.id, OrderLine.id)).all()
    shipped = _shipped(session, {order.id for *_, order in rows})
    return [{"order_id": order.id, "platform": order.platform, "platform_order_id": order.external_id,
             "order_line_id": line.id, "pickup_id": pickup.id, "farm_id": farm.id, "farm_name": farm.name,
             "sku": product.sku, "day": pickup.date, "quantity": allocation.collected,
             "waiting_at_farm": allocation.quantity - allocation.collected, "shipped": order.id in shipped}
            for allocation, pickup, line, order in rows]


def _waiting_at_farm(session: Session, recall: Recall) -> int:
    """Units of the recalled farm, product and days allocated to orders but not yet collected: the
    manager decides about them (confirm the pickup short, so they are re-allocated to other farms)."""
    return int(session.execute(
        select(func.coalesce(func.sum(LineAllocation.quantity - LineAllocation.collected), 0))
        .join(Pickup, Pickup.id == LineAllocation.pickup_id)
        .where(Pickup.farm_id == recall.farm_id, Pickup.product_id == recall.product_id,
               Pickup.date >= recall.date_from, Pickup.date <= recall.date_to,
               Pickup.status.in_(("proposed", "confirmed", "short")))).scalar_one())


def trace_back(session: Session, cooperative_id: int, order_id: int) -> dict:
    """Where an order's units came from: farm, product, pickup day, units collected (and still waiting)."""
    order = session.get(Order, order_id)
    if order is None or order.cooperative_id != cooperative_id:
        raise NotFound(f"order {order_id} does not exist")
    rows = session.execute(
        select(LineAllocation, Pickup, Farm, Product)
        .join(Pickup, Pickup.id == LineAllocation.pickup_id).join(Farm, Farm.id == Pickup.farm_id)
        .join(Product, Product.id == Pickup.product_id).join(OrderLine, OrderLine.id == LineAllocation.order_line_id)
        .where(OrderLine.order_id == order_id).order_by(LineAllocation.id)).all()
    recalls = sorted(set(session.execute(select(RecallLine.recall_id).where(RecallLine.order_id == order_id))
                         .scalars()))
    return {"order_id": order.id, "platform": order.platform, "platform_order_id": order.external_id,
            "recalls": recalls,
            "sources": [{"order_line_id": a.order_line_id, "pickup_id": p.id, "farm_id": f.id, "farm_name": f.name,
                         "sku": product.sku, "day": p.date, "collected": a.collected,
                         "waiting_at_farm": a.quantity - a.collected} for a, p, f, product in rows]}


def create_recall(session: Session, cooperative_id: int, *, farm_id: int, sku: str, date_from: date,
                  date_to: date, reason: str, actor: str) -> dict:
    """A recall of a farm's product over pickup days: lists and marks every order that received its
    units, and holds from dispatch the units still at the hub (orders without a waybill)."""
    traced = trace_forward(session, cooperative_id, farm_id=farm_id, sku=sku, date_from=date_from, date_to=date_to)
    product = _product(session, cooperative_id, sku)
    recall = Recall(cooperative_id=cooperative_id, farm_id=farm_id, product_id=product.id, date_from=date_from,
                    date_to=date_to, reason=reason, actor=actor)
    session.add(recall)
    session.flush()
    for row in traced:
        session.add(RecallLine(recall_id=recall.id, order_line_id=row["order_line_id"], pickup_id=row["pickup_id"],
                               order_id=row["order_id"], quantity=row["quantity"],
                               held_at_hub=0 if row["shipped"] else row["quantity"]))
    session.flush()
    return get_recall(session, cooperative_id, recall.id)


def get_recall(session: Session, cooperative_id: int, recall_id: int) -> dict:
    recall = session.get(Recall, recall_id)
    if recall is None or recall.cooperative_id != cooperative_id:
        raise NotFound(f"recall {recall_id} does not exist")
    rows = _recall_rows(session, recall)
    farm, product = session.get(Farm, recall.farm_id), session.get(Product, recall.product_id)
    return {"id": recall.id, "farm_id": farm.id, "farm_name": farm.name, "sku": product.sku,
            "date_from": recall.date_from, "date_to": recall.date_to, "reason": recall.reason, "actor": recall.actor,
            "created_at": recall.created_at, "orders": len({r["order_id"] for r in rows}),
            "units": sum(r["quantity"] for r in rows), "held_at_hub": sum(r["held_at_hub"] for r in rows),
            "waiting_at_farm": _waiting_at_farm(session, recall),
            "lines": [{k: v for k, v in r.items() if k != "buyer"} for r in rows]}


def _recall_rows(session: Session, recall: Recall) -> list[dict]:
    rows = session.execute(
        select(RecallLine, Order, Pickup).join(Order, Order.id == RecallLine.order_id)
        .join(Pickup, Pickup.id == RecallLine.pickup_id).where(RecallLine.recall_id == recall.id)
        .order_by(Order.platform, Order.external_id, RecallLine.order_line_id)).all()
    return [{"order_id": order.id, "platform": order.platform, "platform_order_id": order.external_id,
             "order_line_id": line.order_line_id, "day": pickup.date, "quantity": line.quantity,
             "held_at_hub": line.held_at_hub, "buyer": order.buyer or {}} for line, order, pickup in rows]


def recall_csv(session: Session, cooperative_id: int, recall_id: int, *, with_buyers: bool, actor: str,
               locale: str = i18n.DEFAULT_LOCALE) -> str:
    """The after-sales list: one row per order line that received recalled units. With buyers (name,
    phone, address) only for a manager, and every such export is logged."""
    _ = i18n.gettext_for(locale, "farms")
    recall = session.get(Recall, recall_id)
    if recall is None or recall.cooperative_id != cooperative_id:
        raise NotFound(f"recall {recall_id} does not exist")
    rows = _recall_rows(session, recall)
    product = session.get(Product, recall.product_id)
    farm = session.get(Farm, recall.farm_id)
    out = io.StringIO()
    writer = csv.writer(out)
    header = [_("Platform"), _("Platform order ID"), _("Order ID"), _("SKU"), _("Product"), _("Farm"),
              _("Pickup day"), _("Units received"), _("Units held at the hub"), _("Recall reason")]
    if with_buyers:
        header += [_("Buyer"), _("Buyer phone"), _("Buyer address")]
    writer.writerow(header)
    for r in rows:
        row = [r["platform"], r["platform_order_id"], r["order_id"], product.sku, product.name, farm.name,
               r["day"].isoformat(), r["quantity"], r["held_at_hub"], recall.reason]
        if with_buyers:
            row += [r["buyer"].get("name", ""), r["buyer"].get("phone", ""), r["buyer"].get("address", "")]
        writer.writerow(row)
    session.add(PersonalDataExport(cooperative_id=cooperative_id, actor=actor, what="recall_orders_csv",
                                   recall_id=recall.id, rows=len(rows), with_buyers=with_buyers))
    session.flush()
    return out.getvalue()


def list_exports(session: Session, cooperative_id: int, limit: int = 100, offset: int = 0) -> list[dict]:
    """The newest exports first."""
    rows = session.execute(select(PersonalDataExport).where(PersonalDataExport.cooperative_id == cooperative_id)
                           .order_by(PersonalDataExport.id.desc()).limit(limit).offset(offset)).scalars()
    return [{"id": e.id, "actor": e.actor, "what": e.what, "recall_id": e.recall_id, "rows": e.rows,
             "with_buyers": e.with_buyers, "created_at": e.created_at} for e in rows]


def count_exports(session: Session, cooperative_id: int) -> int:
    return session.execute(select(func.count(PersonalDataExport.id))
                           .where(PersonalDataExport.cooperative_id == cooperative_id)).scalar_one()


def held_orders(session: Session, order_ids: set[int]) -> set[int]:
    """Of these orders, those holding recalled units at the hub: not to be dispatched."""
    if not order_ids:
        return set()
    return set(session.execute(select(RecallLine.order_id).where(RecallLine.order_id.in_(order_ids),
                                                                 RecallLine.held_at_hub > 0)).scalars())


def refuse_if_held(session: Session, order_id: int) -> None:
    """Shipping asks before a waybill leaves the hub with an order."""
    if held_orders(session, {order_id}):
        raise Conflict(f"order {order_id} holds recalled units: they stay at the hub", code="recalled")

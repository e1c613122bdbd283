"""Pickups: managers confirm what is ready; shortfalls are re-allocated or backordered."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.models import (
    Farm, FarmStock, LineAllocation, Order, OrderLine, Pickup, Product, ProductBalance, StockLedgerEntry,
)
from supply.domain.errors import Conflict, InvalidInput, NotFound
from supply.services.allocation import allocate_product


def list_pickups(session: Session, cooperative_id: int, *, on: date | None = None, farm_id: int | None = None,
                 status: str | None = None, limit: int = 1000, offset: int = 0) -> list[dict]:
    query = (select(Pickup, Product, Farm).join(Product, Product.id == Pickup.product_id)
             .join(Farm, Farm.id == Pickup.farm_id))
    query = _pickups_where(query, cooperative_id, on, farm_id, status)
    rows = session.execute(query.order_by(Pickup.id).limit(limit).offset(offset)).all()
    return [serialize_pickup(p, product, farm) for p, product, farm in rows]


def count_pickups(session: Session, cooperative_id: int, *, on: date | None = None, farm_id: int | None = None,
                  status: str | None = None) -> int:
    """How many pickups `list_pickups` pages through with the same filters."""
    return session.execute(_pickups_where(select(func.count(Pickup.id)), cooperative_id, on, farm_id,
                                          status)).scalar_one()


def _pickups_where(query, cooperative_id: int, on: date | None, farm_id: int | None, status: str | None):
    query = query.where(Pickup.cooperative_id == cooperative_id)
    if on is not None:
        query = query.where(Pickup.date == on)
    if farm_id is not None:
        query = query.where(Pickup.farm_id == farm_id)
    if status is not None:
        query = query.where(Pickup.status == status)
    return query


def serialize_pickup(pickup: Pickup, product: Product, farm: Farm) -> dict:
    return {"id": pickup.id, "farm_id": farm.id, "farm_name": farm.name, "sku": product.sku,
            "product_name": product.name, "date": pickup.date, "quantity": pickup.quantity,
            "quantity_ready": pickup.quantity_ready, "quantity_collected": pickup.quantity_collected,
            "status": pickup.status, "cold_chain": product.cold_chain,
            "weight_kg": round(pickup.quantity * product.unit_weight_kg, 3)}


def _locked_pickup(session: Session, cooperative_id: int, pickup_id: int) -> Pickup:
    pickup = session.execute(select(Pickup).where(Pickup.id == pickup_id, Pickup.cooperative_id == cooperative_id)
                             .with_for_update()).scalar()
    if pickup is None:
        raise NotFound(f"pickup {pickup_id} does not exist")
    return pickup


def confirm_pickup(session: Session, cooperative_id: int, pickup_id: int, quantity_ready: int, *, actor: str,
                   policy: str = "fair_share") -> dict:
    """The farm has `quantity_ready` of what was asked. Less marks a shortfall, re-allocated elsewhere."""
    pickup = _locked_pickup(session, cooperative_id, pickup_id)
    if pickup.status not in ("proposed", "confirmed"):
        raise Conflict(f"pickup {pickup_id} is {pickup.status} and can no longer be confirmed",
                       code="pickup_not_open")
    if quantity_ready > pickup.quantity:
        raise InvalidInput(f"only {pickup.quantity} were asked of this farm",
                           fields={"quantity_ready": [f"must be at most {pickup.quantity}"]})
    if quantity_ready < pickup.quantity_collected:
        raise InvalidInput(f"{pickup.quantity_collected} were already collected from this farm",
                           fields={"quantity_ready": [f"must be at least {pickup.quantity_collected}"]})
    shortfall = pickup.quantity - quantity_ready
    pickup.quantity_ready = quantity_ready
    pickup.status = "confirmed" if shortfall == 0 else "short"
    pickup.updated_at = datetime.now(timezone.utc)
    outcome = {"shortfall": shortfall, "reallocated": None, "backordered": []}
    if shortfall:
        outcome.update(record_shortfall(session, pickup, shortfall, actor=actor, policy=policy,
                                        why=f"farm had {quantity_ready} of {pickup.quantity} ready"))
    session.flush()
    product, farm = session.get(Product, pickup.product_id), session.get(Farm, pickup.farm_id)
    return {"pickup": serialize_pickup(pickup, product, farm), **outcome}


def record_shortfall(session: Session, pickup: Pickup, shortfall: int, *, actor: str, policy: str, why: str) -> dict:
    """The farm does not have `shortfall` of the pickup's units.

    Its stock figures come down (with ledger entries); the order lines that counted on those units
    lose their allocation; units the product's remaining stock cannot cover are backordered (the
    orders concerned are listed); the rest is re-allocated to other farms.
    """
    reason = f"shortfall on pickup {pickup.id}: {why}"
    freed = _unallocate(session, pickup, shortfall)
    stock = session.execute(select(FarmStock).where(FarmStock.farm_id == pickup.farm_id,
                                                    FarmStock.product_id == pickup.product_id)
                            .with_for_update()).scalar_one()
    balance = session.execute(select(ProductBalance).where(ProductBalance.product_id == pickup.product_id)
                              .with_for_update().execution_options(populate_existing=True)).scalar_one()
    # From here no query runs until every figure is set, so the CHECK constraints see them together.
    with session.no_autoflush:
        for kind in ("allocated", "confirmed", "declared"):
            setattr(stock, kind, getattr(stock, kind) - shortfall)
            session.add(StockLedgerEntry(cooperative_id=pickup.cooperative_id, farm_id=pickup.farm_id,
                                         product_id=pickup.product_id, kind=kind, delta=-shortfall, reason=reason,
                                         actor=actor, ref=f"pickup:{pickup.id}"))
        balance.confirmed -= shortfall
        balance.declared -= shortfall
        # Reservations beyond what stock can now cover cannot be met by any farm: backorder them,
        # taking them from the lines that just lost their farm.
        excess = max(0, balance.reserved - balance.backordered + balance.held - balance.confirmed)
        backordered = []
        for line, quantity in freed:
            if excess == 0:
                break
            take = min(excess, quantity)
            line.backordered += take
            balance.backordered += take
            excess -= take
            backordered.append({"order_id": line.order_id, "order_line_id": line.id, "quantity": take})
    session.flush()
    reallocated = allocate_product(session, pickup.cooperative_id, pickup.product_id, pickup.date, policy,
                                   actor=actor, exclude_farms=frozenset({pickup.farm_id}))
    reallocated.pop("sku", None)
    return {"reallocated": reallocated, "backordered": backordered,
            "orders_concerned": sorted({line.order_id for line, _ in freed})}


def _unallocate(session: Session, pickup: Pickup, quantity: int) -> list[tuple[OrderLine, int]]:
    """Take `quantity` units of the pickup's allocations back, newest orders first."""
    allocations = session.execute(select(LineAllocation).where(LineAllocation.pickup_id == pickup.id)
                                  .order_by(LineAllocation.id.desc())).scalars().all()
    freed: list[tuple[OrderLine, int]] = []
    left = quantity
    for allocation in allocations:
        if left == 0:
            break
        line = session.execute(select(OrderLine).where(OrderLine.id == allocation.order_line_id)
                               .with_for_update()).scalar_one()
        take = min(left, allocation.quantity - allocation.collected, line.allocated)
        if take <= 0:
            continue
        line.allocated -= take
        allocation.quantity -= take
        if allocation.quantity == 0:
            session.delete(allocation)
        freed.append((line, take))
        left -= take
    return freed


def collect_pickup(session: Session, pickup: Pickup, quantity: int, *, actor: str, ref: str) -> list[dict]:
    """`quantity` units left the farm on a truck: the farm's and the product's figures come down and the
    order lines' reservations turn into collected units."""
    stock = session.execute(select(FarmStock).where(FarmStock.farm_id == pickup.farm_id,
                                                    FarmStock.product_id == pickup.product_id)
                            .with_for_update()).scalar_one()
    balance = session.execute(select(ProductBalance).where(ProductBalance.product_id == pickup.product_id)
                              .with_for_update().execution_options(populate_existing=True)).scalar_one()
    reason = f"collected on pickup {pickup.id}"
    for kind in ("allocated", "confirmed", "declared"):
        setattr(stock, kind, getattr(stock, kind) - quantity)
        session.add(StockLedgerEntry(cooperative_id=pickup.cooperative_id, farm_id=pickup.farm_id,
                                     product_id=pickup.product_id, kind=kind, delta=-quantity, reason=reason,
                                     actor=actor, ref=ref))
    balance.confirmed -= quantity
    balance.declared -= quantity
    balance.reserved -= quantity
    pickup.quantity_collected += quantity
    # Allocation rows stay as the record of which farm supplied the line; the line's counters move.
    moved = []
    left = quantity
    allocations = session.execute(select(LineAllocation).where(LineAllocation.pickup_id == pickup.id)
                                  .order_by(LineAllocation.id)).scalars().all()
    for allocation in allocations:
        line = session.execute(select(OrderLine).where(OrderLine.id == allocation.order_line_id)
                               .with_for_update()).scalar_one()
        take = min(left, allocation.quantity - allocation.collected, line.allocated)
        if take <= 0:
            continue
        allocation.collected += take
        line.allocated -= take
        line.reserved -= take
        line.collected += take
        left -= take
        moved.append({"order_id": line.order_id, "order_line_id": line.id, "quantity": take})
    session.flush()
    return moved


def order_allocations(session: Session, order: Order) -> list[dict]:
    """Where each unit of an order comes from: farm, pickup, quantity, per line."""
    rows = session.execute(
        select(LineAllocation, Pickup, Farm, OrderLine).join(Pickup, Pickup.id == LineAllocation.pickup_id)
        .join(Farm, Farm.id == Pickup.farm_id).join(OrderLine, OrderLine.id == LineAllocation.order_line_id)
        .where(OrderLine.order_id == order.id).order_by(LineAllocation.id)).all()
    return [{"order_line_id": line.id, "pickup_id": pickup.id, "farm_id": farm.id, "farm_name": farm.name,
             "date": pickup.date, "quantity": allocation.quantity, "pickup_status": pickup.status}
            for allocation, pickup, farm, line in rows]

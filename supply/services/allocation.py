"""Allocation: reserved, unallocated order lines become farm pickups for a date, under a policy.

Every unit stays traceable: a LineAllocation row says which pickup (farm) supplies which line.
Running it twice changes nothing more: the second run finds no unallocated units.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.models import (
    Farm, FarmStock, LineAllocation, OrderLine, Pickup, Product, StockLedgerEntry,
)
from supply.db.session import insert_ignore
from supply.domain.allocation import FarmSupply, allocate_quantity, spread_over_lines

OPEN_PICKUP = ("proposed", "confirmed")


def allocate(session: Session, cooperative_id: int, on: date, policy: str = "fair_share",
             actor: str = "allocation") -> dict:
    """Allocate every reserved, unallocated unit of the cooperative to farms, as pickups on `on`."""
    product_ids = [pid for pid in session.execute(
        select(Product.id).where(Product.cooperative_id == cooperative_id).order_by(Product.id)).scalars()
        if session.execute(select(OrderLine.id).where(
            OrderLine.product_id == pid,
            OrderLine.reserved > OrderLine.allocated + OrderLine.backordered).limit(1)).first()]
    summary = {"date": on.isoformat(), "policy": policy, "products": {}, "pickups_touched": 0, "unallocated": {}}
    for product_id in product_ids:
        result = allocate_product(session, cooperative_id, product_id, on, policy, actor=actor)
        sku = result.pop("sku")
        summary["products"][sku] = result
        summary["pickups_touched"] += result["farms"]
        if result["unallocated"]:
            summary["unallocated"][sku] = result["unallocated"]
    return summary


def allocate_product(session: Session, cooperative_id: int, product_id: int, on: date, policy: str, *,
                     actor: str, exclude_farms: frozenset[int] = frozenset()) -> dict:
    product = session.get(Product, product_id)
    # Find the lines first without locks, then lock just those lines: a locking read over the join
    # would lock every reserved order of the product (seconds on a spike of tens of thousands).
    # Only lines of reserved orders hold units (cancelled and rejected lines have reserved 0), and a
    # product belongs to one cooperative: no join with orders is needed (a join planned on fresh
    # statistics right after a spike was quadratic).
    candidates = session.execute(
        select(OrderLine.id).where(OrderLine.product_id == product_id,
                                   OrderLine.reserved > OrderLine.allocated + OrderLine.backordered)
    ).scalars().all()
    lines = []
    for chunk in range(0, len(candidates), 5000):
        lines += session.execute(
            select(OrderLine).where(OrderLine.id.in_(candidates[chunk:chunk + 5000]))
            .order_by(OrderLine.id).with_for_update().execution_options(populate_existing=True)).scalars().all()
    # A line cancelled or allocated meanwhile no longer needs a farm.
    lines = [line for line in lines if line.reserved > line.allocated + line.backordered]
    needs = [(line.id, line.reserved - line.allocated - line.backordered) for line in lines]
    demand = sum(q for _, q in needs)
    supplies = _farm_supplies(session, cooperative_id, product_id, on, exclude_farms)
    taken = allocate_quantity(demand, supplies, policy)
    pickups = {farm_id: _open_pickup(session, cooperative_id, farm_id, product_id, on, q)
               for farm_id, q in taken.items()}
    for farm_id, q in taken.items():
        stock = session.execute(select(FarmStock).where(FarmStock.farm_id == farm_id,
                                                        FarmStock.product_id == product_id)
                                .with_for_update()).scalar_one()
        stock.allocated += q
        session.add(StockLedgerEntry(cooperative_id=cooperative_id, farm_id=farm_id, product_id=product_id,
                                     kind="allocated", delta=q, reason=f"allocated to pickup {pickups[farm_id].id}",
                                     actor=actor, ref=f"pickup:{pickups[farm_id].id}"))
    by_line = {line.id: line for line in lines}
    for line_id, farm_id, q in spread_over_lines(needs, taken):
        by_line[line_id].allocated += q
        session.add(LineAllocation(order_line_id=line_id, pickup_id=pickups[farm_id].id, quantity=q))
    session.flush()
    allocated = sum(taken.values())
    return {"sku": product.sku, "demand": demand, "allocated": allocated, "farms": len(taken),
            "unallocated": demand - allocated}


def _farm_supplies(session: Session, cooperative_id: int, product_id: int, on: date,
                   exclude: frozenset[int]) -> list[FarmSupply]:
    # A farm whose pickup for the day is already collected or short cannot take more that day.
    closed = set(session.execute(select(Pickup.farm_id).where(
        Pickup.product_id == product_id, Pickup.date == on, Pickup.status.not_in(OPEN_PICKUP))).scalars())
    last_confirmed = dict(session.execute(
        select(StockLedgerEntry.farm_id, func.max(StockLedgerEntry.created_at))
        .where(StockLedgerEntry.product_id == product_id, StockLedgerEntry.kind == "confirmed",
               StockLedgerEntry.delta > 0)
        .group_by(StockLedgerEntry.farm_id)).all())
    rows = session.execute(
        select(FarmStock.farm_id, FarmStock.confirmed - FarmStock.allocated)
        .join(Farm, Farm.id == FarmStock.farm_id)
        .where(Farm.cooperative_id == cooperative_id, FarmStock.product_id == product_id,
               FarmStock.confirmed > FarmStock.allocated)
        .order_by(FarmStock.farm_id).with_for_update(of=FarmStock)).all()
    return [FarmSupply(farm_id, free, _epoch(last_confirmed.get(farm_id))) for farm_id, free in rows
            if farm_id not in exclude and farm_id not in closed]


def _open_pickup(session: Session, cooperative_id: int, farm_id: int, product_id: int, on: date,
                 quantity: int) -> Pickup:
    insert_ignore(session, Pickup, cooperative_id=cooperative_id, farm_id=farm_id, product_id=product_id,
                  date=on, quantity=0, quantity_collected=0, status="proposed",
                  created_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc))
    pickup = session.execute(select(Pickup).where(Pickup.farm_id == farm_id, Pickup.product_id == product_id,
                                                  Pickup.date == on)
                             .with_for_update().execution_options(populate_existing=True)).scalar_one()
    pickup.quantity += quantity
    if pickup.status == "confirmed":
        # More to collect than the farm confirmed as ready: the manager confirms again.
        pickup.status = "proposed"
        pickup.quantity_ready = None
    pickup.updated_at = datetime.now(timezone.utc)
    session.flush()
    return pickup


def release_line_allocations(session: Session, line: OrderLine, actor: str) -> None:
    """A cancelled line gives its units back: pickups shrink and farms' allocated stock is freed.

    Only units still waiting at the farm are freed: those of a proposed or confirmed pickup, and the
    ready part of a short one (its missing part was taken from the allocations already). Units a truck
    has collected are on their way; their allocation row stays as the record of where they came from.
    """
    allocations = session.execute(select(LineAllocation).where(LineAllocation.order_line_id == line.id)
                                  .order_by(LineAllocation.id)).scalars().all()
    for allocation in allocations:
        pickup = session.execute(select(Pickup).where(Pickup.id == allocation.pickup_id)
                                 .with_for_update()).scalar_one()
        if pickup.status not in (*OPEN_PICKUP, "short"):
            continue  # collected or cancelled: nothing waits at the farm
        waiting = (pickup.quantity if pickup.quantity_ready is None else pickup.quantity_ready) \
            - pickup.quantity_collected
        free = min(allocation.quantity - allocation.collected, line.allocated, waiting)
        if free <= 0:
            continue
        pickup.quantity -= free
        if pickup.quantity_ready is not None:
            pickup.quantity_ready -= free
        if pickup.quantity == pickup.quantity_collected or pickup.quantity_ready == pickup.quantity_collected:
            pickup.status = "collected" if pickup.quantity_collected else "cancelled"
        stock = session.execute(select(FarmStock).where(FarmStock.farm_id == pickup.farm_id,
                                                        FarmStock.product_id == pickup.product_id)
                                .with_for_update()).scalar_one()
        stock.allocated -= free
        session.add(StockLedgerEntry(cooperative_id=pickup.cooperative_id, farm_id=pickup.farm_id,
                                     product_id=pickup.product_id, kind="allocated", delta=-free,
                                     reason=f"order line {line.id} cancelled", actor=actor,
                                     ref=f"pickup:{pickup.id}"))
        line.allocated -= free
        if free == allocation.quantity:
            session.delete(allocation)
        else:
            allocation.quantity -= free
    session.flush()


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def run_allocation_job(services, job_id: str, params: dict, progress) -> dict:
    """Job `allocate`: params {cooperative_id, date, policy?}. Running it twice allocates nothing more."""
    progress(10, "allocating reserved order lines to farms")
    with services.db.transaction() as session:
        result = allocate(session, params["cooperative_id"], date.fromisoformat(params["date"]),
                          params.get("policy") or "fair_share", actor=f"job:{job_id}")
    progress(100, f"{result['pickups_touched']} farm pickups touched")
    return result

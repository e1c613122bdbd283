"""Dispatch plans as stored: reading one, publishing a version (the one drivers see), and their
JSON shape (a plan, a route with its stops and items); which routes a principal may see."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.models import Cooperative, DispatchPlan, Farm, Pickup, Product, Route, Vehicle, VehiclePosition
from supply.domain.errors import Conflict, Forbidden, NotFound


def get_plan(session: Session, cooperative_id: int, plan_id: int) -> DispatchPlan:
    plan = session.execute(select(DispatchPlan).where(DispatchPlan.id == plan_id,
                                                      DispatchPlan.cooperative_id == cooperative_id)).scalar()
    if plan is None:
        raise NotFound(f"dispatch plan {plan_id} does not exist")
    return plan


def publish_plan(session: Session, cooperative_id: int, plan_id: int) -> DispatchPlan:
    """Drivers see this version from now on; the version published before is superseded."""
    plan = session.execute(select(DispatchPlan).where(DispatchPlan.id == plan_id,
                                                      DispatchPlan.cooperative_id == cooperative_id)
                           .with_for_update()).scalar()
    if plan is None:
        raise NotFound(f"dispatch plan {plan_id} does not exist")
    if plan.status == "superseded":
        raise Conflict(f"plan {plan_id} was superseded by a newer version", code="plan_superseded")
    if plan.status == "published":
        return plan
    for other in session.execute(select(DispatchPlan).where(
            DispatchPlan.hub_id == plan.hub_id, DispatchPlan.date == plan.date, DispatchPlan.id != plan.id,
            DispatchPlan.status == "published").with_for_update()).scalars():
        other.status = "superseded"
    plan.status = "published"
    plan.published_at = datetime.now(timezone.utc)
    session.flush()
    return plan


def plan_summary(plan: DispatchPlan) -> dict:
    return {"plan_id": plan.id, "version": plan.version, "status": plan.status, "routes": len(plan.routes),
            "stops": sum(1 for r in plan.routes for s in r.stops if s.kind == "pickup"),
            "unplanned": len(plan.unplanned or []), "engine": plan.engine}


def serialize_plan(session: Session, plan: DispatchPlan) -> dict:
    farms = _farms_of(session, plan)
    return {"id": plan.id, "hub_id": plan.hub_id, "date": plan.date, "version": plan.version, "status": plan.status,
            "needs_replan": plan.needs_replan, "replan_reason": plan.replan_reason, "engine": plan.engine,
            "search": plan.search or {},
            "cost": plan.cost, "distance_m": plan.distance_m, "duration_s": plan.duration_s,
            "created_at": plan.created_at, "published_at": plan.published_at,
            "routes": [serialize_route(session, r, farms) for r in plan.routes],
            "unplanned": plan.unplanned or []}


def _farms_of(session: Session, plan: DispatchPlan) -> dict[int, Farm]:
    ids = {s.farm_id for r in plan.routes for s in r.stops if s.farm_id}
    if not ids:
        return {}
    return {f.id: f for f in session.execute(select(Farm).where(Farm.id.in_(ids))).scalars()}


def serialize_route(session: Session, route: Route, farms: dict[int, Farm] | None = None) -> dict:
    farms = farms if farms is not None else _farms_of(session, route.plan)
    pickups = _pickups_of(session, route)
    vehicle = session.get(Vehicle, route.vehicle_id)
    return {
        "id": route.id, "plan_id": route.plan_id, "plan_version": route.plan.version,
        "plan_status": route.plan.status, "vehicle_id": route.vehicle_id, "vehicle_name": vehicle.name,
        "driver_id": route.driver_id, "departure_at": route.departure_at, "return_at": route.return_at,
        "distance_m": route.distance_m, "duration_s": route.duration_s, "trips": route.trips,
        "stops": [{
            "id": s.id, "sequence": s.sequence, "kind": s.kind, "farm_id": s.farm_id,
            "farm_name": farms[s.farm_id].name if s.farm_id else None,
            "phone": farms[s.farm_id].phone if s.farm_id else None,
            "window_start": farms[s.farm_id].window_start if s.farm_id else None,
            "window_end": farms[s.farm_id].window_end if s.farm_id else None,
            "arrival_at": s.arrival_at, "departure_at": s.departure_at, "load_after_kg": s.load_after_kg,
            "load_after_l": s.load_after_l, "status": s.status, "legs": s.legs or [],
            "items": [{"pickup_id": i.pickup_id, "sku": pickups[i.pickup_id][1].sku,
                       "product_name": pickups[i.pickup_id][1].name, "unit": pickups[i.pickup_id][1].unit,
                       "quantity": i.quantity, "quantity_collected": i.quantity_collected,
                       "weight_kg": round(i.quantity * pickups[i.pickup_id][1].unit_weight_kg, 3),
                       "cold_chain": pickups[i.pickup_id][1].cold_chain} for i in s.items],
        } for s in route.stops],
        "last_position": last_position(session, route),
    }


def last_position(session: Session, route: Route) -> dict | None:
    """The route's vehicle's latest position report on the plan's day, from any of its routes."""
    row = latest_positions(session, route.plan, {route.vehicle_id}).get(route.vehicle_id)
    if row is None:
        return None
    return {"lat": row.lat, "lon": row.lon, "accuracy_m": row.accuracy_m, "reported_at": row.reported_at}


def latest_positions(session: Session, plan: DispatchPlan, vehicle_ids: set[int]) -> dict[int, VehiclePosition]:
    """Each of these vehicles' latest position report on the plan's day (by the report's time)."""
    if not vehicle_ids:
        return {}
    day0 = datetime.combine(plan.date, time(0), ZoneInfo(session.get(Cooperative, plan.cooperative_id).timezone))
    latest = (select(VehiclePosition.vehicle_id, func.max(VehiclePosition.reported_at).label("at"))
              .where(VehiclePosition.cooperative_id == plan.cooperative_id,
                     VehiclePosition.vehicle_id.in_(vehicle_ids), VehiclePosition.reported_at >= day0,
                     VehiclePosition.reported_at < day0 + timedelta(days=1))
              .group_by(VehiclePosition.vehicle_id).subquery())
    rows = session.execute(select(VehiclePosition).join(latest, (VehiclePosition.vehicle_id == latest.c.vehicle_id)
                                                         & (VehiclePosition.reported_at == latest.c.at))).scalars()
    return {row.vehicle_id: row for row in rows}


def _pickups_of(session: Session, route: Route) -> dict[int, tuple[Pickup, Product]]:
    ids = {i.pickup_id for s in route.stops for i in s.items}
    if not ids:
        return {}
    rows = session.execute(select(Pickup, Product).join(Product, Product.id == Pickup.product_id)
                           .where(Pickup.id.in_(ids))).all()
    return {p.id: (p, product) for p, product in rows}


def get_route_for(session: Session, principal, route_id: int) -> Route:
    """A route, if this principal may see it: managers of its cooperative, or its own driver
    (and then only in the published version)."""
    route = session.get(Route, route_id)
    if route is None or route.plan.cooperative_id != principal.cooperative_id:
        raise NotFound(f"route {route_id} does not exist")
    if principal.role == "driver":
        if route.driver_id != principal.driver_id:
            raise Forbidden("this route belongs to another driver")
        if route.plan.status != "published":
            raise NotFound(f"route {route_id} is not in a published plan")
    elif principal.role != "manager":
        raise Forbidden("routes are for managers and their drivers")
    return route

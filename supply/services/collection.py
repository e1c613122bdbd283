"""On the road: a driver collects a stop (stock, pickups and orders follow), reports where the
vehicle is (a re-plan starts it there), and a road closes (published plans that use it are flagged
for a re-plan)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.matrix import travel_matrix
from routing.network import Network
from supply.db.models import Cooperative, DispatchPlan, Hub, Pickup, Product, RoadClosure, Stop, VehiclePosition
from supply.db.session import insert_ignore
from supply.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from supply.services.pickups import collect_pickup, record_shortfall
from supply.services.plans import _farms_of, get_route_for

# A phone's clock may run a little ahead of the server's: reports up to this far in the future pass.
POSITION_CLOCK_SKEW = timedelta(minutes=5)


def collect_stop(session: Session, principal, stop_id: int, quantities: dict[str, int],
                 rejects: dict[str, list[dict]] | None = None, grades: dict[str, str] | None = None) -> dict:
    """The driver collected these quantities (by SKU) at a stop: stock, pickups and orders follow.
    `rejects` (by SKU: [{quantity, reason, grade?, note?}]) are units refused at the farm gate: a
    shortfall, never paid (supply.services.quality); `grades` the grade of the units taken."""
    from supply.services.quality import record_accepted, record_rejects

    rejects, grades = rejects or {}, grades or {}
    rejected = {sku: sum(r["quantity"] for r in lines) for sku, lines in rejects.items()}
    stop = session.execute(select(Stop).where(Stop.id == stop_id).with_for_update()).scalar()
    if stop is None or stop.route.plan.cooperative_id != principal.cooperative_id:
        raise NotFound(f"stop {stop_id} does not exist")
    route = stop.route
    if principal.role == "driver" and route.driver_id != principal.driver_id:
        raise Forbidden("this stop is on another driver's route")
    if route.plan.status != "published":
        raise Conflict("only stops of the published plan can be collected", code="plan_not_published")
    if stop.kind != "pickup":
        raise InvalidInput("this stop is a reload at the hub", fields={"stop_id": ["not a pickup stop"]})
    if stop.status == "collected":
        raise Conflict(f"stop {stop_id} was already collected", code="already_collected")
    items = {session.get(Product, session.get(Pickup, i.pickup_id).product_id).sku: i for i in stop.items}
    unknown = sorted((set(quantities) | set(rejected)) - set(items))
    if unknown:
        raise InvalidInput("products not on this stop", fields={f"quantities.{sku}": ["not collected at this stop"]
                                                                for sku in unknown})
    too_many = {sku for sku in set(quantities) | set(rejected)
                if quantities.get(sku, 0) + rejected.get(sku, 0) > items[sku].quantity}
    if too_many:
        raise InvalidInput("more than the stop was to collect (taken and rejected together)",
                           fields={f"quantities.{sku}": [f"at most {items[sku].quantity}"] for sku in too_many})
    actor = f"driver:{principal.driver_id}" if principal.role == "driver" else principal.actor
    moved = []
    for sku, item in items.items():
        pickup = session.execute(select(Pickup).where(Pickup.id == item.pickup_id).with_for_update()).scalar_one()
        got = quantities.get(sku, 0)
        refused = record_rejects(session, pickup, rejects.get(sku, []), actor=actor, ref=f"stop:{stop.id}",
                                 stop_id=stop.id)
        moved.extend(collect_item(session, pickup, item.quantity - refused, got, actor=actor, ref=f"stop:{stop.id}"))
        record_accepted(session, pickup, got, grade=grades.get(sku), actor=actor, stop_id=stop.id)
        item.quantity_collected = got
    stop.status = "collected"
    stop.collected_at = datetime.now(timezone.utc)
    session.flush()
    return {"stop_id": stop.id, "status": stop.status, "collected": {sku: i.quantity_collected for sku, i in items.items()},
            "rejected": {sku: q for sku, q in rejected.items() if q}, "orders": moved}


def report_position(session: Session, network: Network | None, principal, route_id: int, *, lat: float, lon: float,
                    reported_at: datetime | None = None, accuracy_m: float | None = None,
                    now: datetime | None = None) -> tuple[dict, bool]:
    """The driver's phone says where the route's vehicle is (WGS-84 degrees, at `reported_at`, by
    default now). Kept once per vehicle and report time: `(report, replayed)`, where a report sent
    again gets the first one back. A re-plan of the day starts the vehicle from its latest report
    when that is newer than its last collected stop (supply.services.planning). Only a route of the
    published plan, and only a time on the route's day and not in the future; `road_distance_m` is
    how far the point is from the nearest road of the network (a re-plan does not use a report
    further than it places farms)."""
    now = now or datetime.now(timezone.utc)
    bad = {}
    for name, value, low, high in (("lat", lat, -90, 90), ("lon", lon, -180, 180)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or not low <= value <= high:
            bad[name] = [f"degrees from {low} to {high}"]
    if accuracy_m is not None and (isinstance(accuracy_m, bool) or not isinstance(accuracy_m, (int, float))
                                   or not math.isfinite(accuracy_m) or not 0 <= accuracy_m <= 100_000):
        bad["accuracy_m"] = ["metres from 0 to 100000"]
    if reported_at is not None and reported_at.tzinfo is None:
        bad["reported_at"] = ["a time with its UTC offset"]
    if bad:
        raise InvalidInput("the position is not valid", fields=bad)
    route = get_route_for(session, principal, route_id)
    plan = route.plan
    if plan.status != "published":
        raise Conflict("only routes of the published plan have a position", code="plan_not_published")
    at = (reported_at or now).astimezone(timezone.utc).replace(microsecond=0)
    if at > now + POSITION_CLOCK_SKEW:
        raise InvalidInput("the position is reported for a time in the future",
                           fields={"reported_at": ["not after now"]})
    tz = ZoneInfo(session.get(Cooperative, plan.cooperative_id).timezone)
    if at.astimezone(tz).date() != plan.date:
        raise InvalidInput("the position is reported for another day than the route's",
                           fields={"reported_at": [f"on {plan.date.isoformat()}"]})
    actor = f"driver:{principal.driver_id}" if principal.role == "driver" else principal.actor
    same = (VehiclePosition.vehicle_id == route.vehicle_id, VehiclePosition.reported_at == at)
    replayed = session.execute(select(VehiclePosition.id).where(*same)).scalar() is not None
    if not replayed:  # a concurrent resend waits here for the first to commit, then finds its row
        insert_ignore(session, VehiclePosition, cooperative_id=plan.cooperative_id, vehicle_id=route.vehicle_id,
                      route_id=route.id, actor=actor, lat=float(lat), lon=float(lon),
                      accuracy_m=None if accuracy_m is None else float(accuracy_m), reported_at=at,
                      received_at=now)
    row = session.execute(select(VehiclePosition).where(*same)).scalar_one()
    if (row.route_id, row.lat, row.lon) != (route.id, float(lat), float(lon)):
        raise Conflict("another position was reported for this vehicle at that time",
                       code="position_time_taken")
    return position_out(row, network), replayed


def position_out(row: VehiclePosition, network: Network | None) -> dict:
    road_m = None
    if network is not None:
        road_m = round(float(network.snap(row.lon, row.lat, max_snap_m=math.inf).distance_m), 1)
    return {"id": row.id, "route_id": row.route_id, "vehicle_id": row.vehicle_id, "lat": row.lat, "lon": row.lon,
            "accuracy_m": row.accuracy_m, "reported_at": row.reported_at, "received_at": row.received_at,
            "road_distance_m": road_m}


def collect_item(session: Session, pickup: Pickup, quantity: int, got: int, *, actor: str, ref: str) -> list[dict]:
    """A stop was to collect `quantity` of the pickup and the driver got `got`: what is missing is a
    shortfall (re-allocated or backordered), what was got leaves the farm's and the product's stock."""
    missing = quantity - got
    moved = []
    if missing:
        record_shortfall(session, pickup, missing, actor=actor, policy="fair_share",
                         why=f"driver collected {got} of {quantity} at {ref}")
        pickup.quantity_ready = (pickup.quantity_ready or 0) - missing
        # The farm came up short: no more is allocated to it that day (an open pickup would take more
        # and ask the farm again for the units it just said it lacks). What is ready is still collected.
        pickup.status = "short"
    if got:
        moved = collect_pickup(session, pickup, got, actor=actor, ref=ref)
    if pickup.quantity_collected >= (pickup.quantity_ready or 0):
        pickup.status = "collected"
    pickup.updated_at = datetime.now(timezone.utc)
    return moved


def close_road(session: Session, network: Network, cooperative_id: int, *, starts_at: datetime, reason: str,
               edge_id: int | None = None, lat: float | None = None, lon: float | None = None,
               ends_at: datetime | None = None) -> dict:
    """Close an edge (or the edge nearest a point) from a time; flag published plans that use it."""
    if edge_id is None:
        edge_id = network.nearest_edge(lon, lat)
    elif not 0 <= edge_id < network.n_edges:
        raise InvalidInput(f"edge {edge_id} is not in the road network", fields={"edge_id": ["unknown edge"]})
    closure = RoadClosure(cooperative_id=cooperative_id, edge_id=edge_id, lat=lat, lon=lon, starts_at=starts_at,
                          ends_at=ends_at, reason=reason)
    session.add(closure)
    session.flush()
    flagged = []
    plans = session.execute(select(DispatchPlan).where(
        DispatchPlan.cooperative_id == cooperative_id, DispatchPlan.status == "published",
        DispatchPlan.date >= starts_at.date())).scalars().all()
    for plan in plans:
        if _plan_uses_edge(session, network, plan, edge_id):
            plan.needs_replan = True
            plan.replan_reason = f"road closed from {starts_at.isoformat()}: {reason}"
            flagged.append(plan.id)
    session.flush()
    coords = network.edge_coords(edge_id)
    road = network.road_names[network.seg_road[network.edge_ptr[edge_id]]]
    return {"id": closure.id, "edge_id": edge_id, "road": road, "starts_at": starts_at, "ends_at": ends_at,
            "reason": reason, "edge_coords": [list(c) for c in coords], "flagged_plans": flagged}


def _plan_uses_edge(session: Session, network: Network, plan: DispatchPlan, edge_id: int) -> bool:
    """Does closing the edge change any hop of the plan? (Compare each hop's travel time.)"""
    hub = session.get(Hub, plan.hub_id)
    farms = _farms_of(session, plan)
    hub_node = network.snap(hub.lon, hub.lat, max_snap_m=1e9).node
    closed = network.close_edges([edge_id])
    for route in plan.routes:
        nodes = [hub_node]
        for stop in route.stops:
            if stop.status == "collected":
                continue
            farm = farms.get(stop.farm_id)
            nodes.append(network.snap(farm.lon, farm.lat, max_snap_m=1e9).node if farm else hub_node)
        nodes.append(hub_node)
        if len(nodes) <= 2 and all(s.status == "collected" for s in route.stops):
            continue
        before = travel_matrix(network, nodes).travel_time_s
        after = travel_matrix(closed, nodes).travel_time_s
        if any(before[i, i + 1] != after[i, i + 1] for i in range(len(nodes) - 1)):
            return True
    return False

"""Dispatch planning: a hub's confirmed pickups for a day and its vehicles -> a routing problem -> a
stored, versioned plan with routes, stops, loads, road legs and the pickups that could not fit.
A re-plan starts from the published plan and keeps the stops already collected.

The routing library knows nothing of the database; this module is the translation both ways.
Reading and publishing plans: supply.services.plans; collecting stops, road closures:
supply.services.collection.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routing.matrix import NoRoute, shortest_path, shortest_paths, travel_matrix
from routing.model import Problem, Stop as RoutingStop, Vehicle as RoutingVehicle
from routing.network import Network, SnapError
from routing.solver import solve
from supply.db.models import (
    Cooperative, DispatchPlan, Farm, Hub, Pickup, Product, RoadClosure, Route, Stop, StopItem, Vehicle,
)
from supply.domain.errors import InvalidInput
from supply.jobs import serialise
from supply.services.fleet import get_hub
from supply.services.plans import latest_positions, plan_summary

log = logging.getLogger(__name__)

SERVICE_BASE_S = 300        # park, find the farmer, paperwork
SERVICE_PER_100_KG_S = 120  # loading by hand
RELOAD_DURATION_S = 900     # unload at the hub between trips
MAX_TRIPS = 3
PLANNABLE = ("confirmed", "short")
# A re-plan (a published plan exists) moves a pickup to another vehicle than the one the drivers
# and the farm were told only when that saves more than this much driving, in fen (20 yuan: about
# 8 km for a truck at 2.5 yuan/km). Added to the search's objective, never to the plan's cost.
REASSIGN_PENALTY = 2000
# The search's wall-clock limit when a plan is asked for without one. A plan is published within
# a minute of a spike: the rest of the minute goes to allocating, reading the day and storing
# the plan (3,000 farms: 52 s in all at this limit, benchmarks/coop_routing.py --scale). The
# longer the search, the cheaper the plan: on the cooperative's own days PyVRP's plans at 45 s
# were 2.8% from the best known on demo-300 and 3.1% at 1,000 farms (where they leave out as few
# pickups as the best known at one seed of three), against 4.2% and 9.9% at 10 s
# (benchmarks/coop_routing.py, three seeds; README "Routing on the cooperative's own days").
DEFAULT_TIME_LIMIT_S = 45.0


@dataclass
class _StopGroup:
    """One visit target: a farm's pickups that can travel together (cold chain apart)."""

    key: str
    farm: Farm
    cold_chain: bool
    pickups: list[tuple[Pickup, Product, int]]  # pickup, product, units still to collect

    @property
    def weight_kg(self) -> float:
        return sum(q * p.unit_weight_kg for _, p, q in self.pickups)

    @property
    def volume_l(self) -> float:
        return sum(q * p.unit_volume_l for _, p, q in self.pickups)


def plan_dispatch(db, network: Network, cooperative_id: int, hub_id: int, on: date, *,
                  vehicle_ids: list[int] | None = None, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S, job_id: str | None = None,
                  max_snap_m: float = 5000, progress=None, seed: int = 0, max_iterations: int | None = None,
                  now: datetime | None = None) -> dict:
    """Make a new draft plan version for the hub and day; idempotent per job id.

    Three steps, so no transaction stays open while the solver runs: read the day's pickups and
    fleet, solve, store the plan. With `max_iterations` (and no time limit) the same day and seed
    give the same plan; the plan records the engine, seed, budget and the search's figures.

    A re-plan (a plan of the hub and day is published) starts from where the trucks are: a vehicle
    with collected stops leaves its last collected stop's farm at `now` (default: the clock; a
    time outside the day, as when a day is planned ahead or corrected after it ended, counts as
    that stop's departure) or that departure if later, with the load collected since it last
    unloaded, the trips and route time it has left. Where its driver's phone reported a position
    after that stop was collected (supply.services.collection.report_position), it leaves from
    there, from the report's time or `now` if later, with the same load; vehicles with neither
    start from the hub as before. The plan records each start (`search["vehicle_starts"]`). The
    search starts from the published routes, and moving a pickup to another vehicle costs
    REASSIGN_PENALTY. Collected stops are kept as they were.
    """
    progress = progress or (lambda pct, msg=None: None)
    with db.transaction() as session:
        if job_id is not None and (existing := _plan_of_job(session, job_id)) is not None:
            return plan_summary(existing)
        replan = _replan_state(session, hub_id, on)
        prepared = _prepare(session, network, cooperative_id, hub_id, on, vehicle_ids, max_snap_m,
                            replan=replan, now=now or datetime.now(timezone.utc))
        start = replan.start if replan is not None else None
    progress(25, f"{len(prepared.by_key)} farm stops, travel matrix {len(prepared.nodes)}x{len(prepared.nodes)}")
    result = solve(prepared.problem, time_limit_s=time_limit_s, seed=seed, max_iterations=max_iterations,
                   initial_routes=start)
    progress(75, f"solved by {result.engine}: {len(result.routes)} routes")
    try:
        with db.transaction() as session:
            serialise(session, "plan version", hub_id, on.isoformat())   # versions taken one at a time
            if job_id is not None and (existing := _plan_of_job(session, job_id)) is not None:
                return plan_summary(existing)
            summary = plan_summary(_store_plan(session, prepared, result, cooperative_id, job_id))
    except IntegrityError:
        # Another run of the same job (a retry that overlapped the first) stored its plan between the
        # check and the insert: that plan is the job's answer.
        if job_id is None:
            raise
        with db.transaction() as session:
            existing = _plan_of_job(session, job_id)
            if existing is None:
                raise
            return plan_summary(existing)
    progress(95, f"plan {summary['plan_id']} version {summary['version']} stored")
    return summary


def _plan_of_job(session: Session, job_id: str) -> DispatchPlan | None:
    return session.execute(select(DispatchPlan).where(DispatchPlan.job_id == job_id)).scalar()


@dataclass
class _Prepared:
    hub: Hub
    on: date
    day0: datetime
    network: Network
    vehicles: list[Vehicle]
    nodes: list[int]
    by_key: dict[str, _StopGroup]
    unplanned: list[dict]
    problem: Problem
    starts: dict[int, "_Position"] = field(default_factory=dict)  # vehicles starting where they are


def _prepare(session: Session, network: Network, cooperative_id: int, hub_id: int, on: date,
             vehicle_ids: list[int] | None, max_snap_m: float, replan: _Replan | None = None,
             now: datetime | None = None) -> _Prepared:
    hub = get_hub(session, cooperative_id, hub_id)
    tz = ZoneInfo(session.get(Cooperative, cooperative_id).timezone)
    day0 = datetime.combine(on, time(0), tz)
    vehicles = _vehicles(session, cooperative_id, hub_id, vehicle_ids)
    if not vehicles:
        raise InvalidInput("no active vehicle at this hub", fields={"vehicle_ids": ["no usable vehicle"]})
    network = _with_closures(session, network, cooperative_id, on, tz)
    groups = _stop_groups(session, cooperative_id, on)
    try:
        hub_node = network.snap(hub.lon, hub.lat, max_snap_m=max_snap_m, name=hub.name).node
    except SnapError as exc:
        raise InvalidInput(f"the hub is off the road network: {exc}", fields={"hub_id": [str(exc)]}) from exc
    unplanned: list[dict] = []
    nodes = [int(hub_node)]
    located: list[tuple[_StopGroup, int]] = []
    for group in groups:
        try:
            node = network.snap(group.farm.lon, group.farm.lat, max_snap_m=max_snap_m, name=group.farm.name).node
        except SnapError as exc:
            unplanned.extend(_unplanned(group, "unreachable", str(exc)))
            continue
        nodes.append(int(node))
        located.append((group, len(nodes) - 1))
    start_at: dict[int, int] = {}  # vehicle id -> location of where it is
    for vehicle_id, position in list((replan.positions if replan is not None else {}).items()):
        while position is not None:
            try:
                node = network.snap(position.lon, position.lat, max_snap_m=max_snap_m).node
                break
            except SnapError:
                # A report off the roads: its last collected stop; a farm off the (closed) roads
                # now: the hub.
                position = position.fallback
        if position is None:
            del replan.positions[vehicle_id]
            continue
        replan.positions[vehicle_id] = position
        nodes.append(int(node))
        start_at[vehicle_id] = len(nodes) - 1
    matrix = travel_matrix(network, nodes)
    published_on = replan.published_on if replan is not None else {}
    stops = [RoutingStop(id=g.key, location=loc, weight_kg=math.ceil(g.weight_kg - 1e-9),
                         volume_l=math.ceil(g.volume_l - 1e-9),
                         service_duration_s=SERVICE_BASE_S + int(SERVICE_PER_100_KG_S * g.weight_kg / 100),
                         window_start_s=_seconds(g.farm.window_start) if g.farm.window_start else 0,
                         window_end_s=_seconds(g.farm.window_end) if g.farm.window_end else None,
                         cold_chain=g.cold_chain, published_vehicle=published_on.get(g.key))
             for g, loc in located]
    problem = Problem(
        durations_s=matrix.travel_time_s, distances_m=matrix.distance_m, stops=tuple(stops),
        vehicles=tuple(RoutingVehicle(
            id=v.id, capacity_weight_kg=int(v.capacity_kg), capacity_volume_l=int(v.capacity_l),
            refrigerated=v.refrigerated, shift_start_s=_seconds(v.shift_start), shift_end_s=_seconds(v.shift_end),
            cost_per_km=int(round(v.cost_per_km * 100)), fixed_cost=int(round(v.cost_per_use * 100)),
            **{"max_trips": MAX_TRIPS, "max_duration_s": v.max_duration_s,
               **_start_of(v, replan, start_at, day0, now)}) for v in vehicles),
        hub_location=0, hub_open_s=_seconds(hub.opens_at), hub_cutoff_s=_seconds(hub.cutoff_at),
        reload_duration_s=RELOAD_DURATION_S, name=f"hub {hub.id} {on}",
        reassign_penalty=REASSIGN_PENALTY if published_on else 0)
    return _Prepared(hub=hub, on=on, day0=day0, network=network, vehicles=vehicles,
                     nodes=nodes, by_key={g.key: g for g, _ in located}, unplanned=unplanned, problem=problem,
                     starts={vid: replan.positions[vid] for vid in start_at})


def _store_plan(session: Session, prepared: _Prepared, result, cooperative_id: int, job_id: str | None):
    unplanned = list(prepared.unplanned)
    for missing in result.unassigned:
        unplanned.extend(_unplanned(prepared.by_key[missing.stop_id], missing.reason, missing.detail))
    hub, on = prepared.hub, prepared.on
    version = (session.execute(select(func.max(DispatchPlan.version)).where(
        DispatchPlan.hub_id == hub.id, DispatchPlan.date == on)).scalar() or 0) + 1
    plan = DispatchPlan(cooperative_id=cooperative_id, hub_id=hub.id, date=on, version=version, status="draft",
                        job_id=job_id, engine=result.engine, cost=float(result.cost), unplanned=unplanned,
                        search=dict(result.search, solve_time_s=round(result.solve_time_s, 3),
                                    **({"vehicle_starts": {str(vid): {"from": p.source, "at": p.at.isoformat()}
                                                           for vid, p in prepared.starts.items()}}
                                       if prepared.starts else {})))
    session.add(plan)
    session.flush()
    vehicles_by_id = {v.id: v for v in prepared.vehicles}
    carried = _collected_stops_of_published(session, hub.id, on)
    paths = _road_paths(prepared, result.routes)
    for route in result.routes:
        start = prepared.starts.get(route.vehicle_id)
        _store_route(session, prepared.network, plan, route, vehicles_by_id[route.vehicle_id], prepared.nodes,
                     prepared.by_key, prepared.day0, carried.pop(route.vehicle_id, []), paths,
                     departed_at=start.route_departure_at if start else None)
    for vehicle_id, done in carried.items():  # a vehicle with collected stops and nothing more to do
        _store_collected_only(session, plan, session.get(Vehicle, vehicle_id), done)
    session.flush()
    plan.distance_m = sum(r.distance_m for r in plan.routes)
    plan.duration_s = sum(r.duration_s for r in plan.routes)
    session.flush()
    return plan


def check_plan_request(session: Session, cooperative_id: int, hub_id: int, vehicle_ids: list[int] | None) -> None:
    """What a planning job will read, checked when it is asked for (404 or 422 there, not a failed job)."""
    get_hub(session, cooperative_id, hub_id)
    if not _vehicles(session, cooperative_id, hub_id, vehicle_ids):
        raise InvalidInput("no active vehicle at this hub", fields={"vehicle_ids": ["no usable vehicle"]})


def _vehicles(session: Session, cooperative_id: int, hub_id: int, vehicle_ids: list[int] | None) -> list[Vehicle]:
    query = select(Vehicle).where(Vehicle.cooperative_id == cooperative_id, Vehicle.hub_id == hub_id,
                                  Vehicle.active.is_(True))
    if vehicle_ids:
        query = query.where(Vehicle.id.in_(vehicle_ids))
        found = set(session.execute(query.with_only_columns(Vehicle.id)).scalars())
        unknown = sorted(set(vehicle_ids) - found)
        if unknown:
            raise InvalidInput("unknown or inactive vehicles for this hub",
                               fields={"vehicle_ids": [f"vehicle {v} is not usable here" for v in unknown]})
    return list(session.execute(query.order_by(Vehicle.id)).scalars())


def _stop_groups(session: Session, cooperative_id: int, on: date) -> list[_StopGroup]:
    rows = session.execute(
        select(Pickup, Product, Farm).join(Product, Product.id == Pickup.product_id)
        .join(Farm, Farm.id == Pickup.farm_id)
        .where(Pickup.cooperative_id == cooperative_id, Pickup.date == on, Pickup.status.in_(PLANNABLE))
        .order_by(Pickup.farm_id, Pickup.id)).all()
    groups: dict[str, _StopGroup] = {}
    for pickup, product, farm in rows:
        left = (pickup.quantity_ready or 0) - pickup.quantity_collected
        if left <= 0:
            continue
        key = f"farm{farm.id}-{'cold' if product.cold_chain else 'dry'}"
        group = groups.setdefault(key, _StopGroup(key, farm, product.cold_chain, []))
        group.pickups.append((pickup, product, left))
    return list(groups.values())


def _with_closures(session: Session, network: Network, cooperative_id: int, on: date, tz) -> Network:
    day_end = datetime.combine(on + timedelta(days=1), time(0), tz)
    day_start = datetime.combine(on, time(0), tz)
    closed = session.execute(select(RoadClosure.edge_id).where(
        RoadClosure.cooperative_id == cooperative_id, RoadClosure.starts_at < day_end,
        (RoadClosure.ends_at.is_(None)) | (RoadClosure.ends_at > day_start))).scalars().all()
    valid = [int(e) for e in closed if 0 <= int(e) < network.n_edges]
    return network.close_edges(valid) if valid else network


def _unplanned(group: _StopGroup, reason: str, detail: str) -> list[dict]:
    return [{"pickup_id": p.id, "farm_id": group.farm.id, "farm_name": group.farm.name, "sku": product.sku,
             "quantity": q, "reason": reason, "detail": detail} for p, product, q in group.pickups]


def _store_route(session: Session, network: Network, plan: DispatchPlan, route, vehicle: Vehicle, nodes: list[int],
                 by_key: dict[str, _StopGroup], day0: datetime, carried: list[Stop], paths: dict | None = None,
                 departed_at: datetime | None = None) -> None:
    # A route re-planned from where the truck is starts at its last collected farm or its reported
    # position; the row keeps the day's departure from the hub (`departed_at`) and the road to the
    # collected stops (the road it drove to a reported position is not known, nor counted).
    path_nodes = [nodes[loc] for loc in route.locations]
    hops = [(paths or {}).get((a, b)) or _road_path(network, a, b) for a, b in zip(path_nodes, path_nodes[1:])]
    departure_at = day0 + timedelta(seconds=route.start_s)
    return_at = day0 + timedelta(seconds=route.end_s)
    driven = 0
    if departed_at is not None:
        departure_at = min(departure_at, departed_at)
    if carried:
        departure_at = min(departure_at, carried[0].route.departure_at)
        driven = sum(int(leg.get("distance_m", 0)) for stop in carried for leg in (stop.legs or []))
    row = Route(plan=plan, vehicle_id=vehicle.id, driver_id=vehicle.driver_id,
                departure_at=departure_at, return_at=return_at,
                distance_m=route.distance_m + driven, duration_s=int((return_at - departure_at).total_seconds()),
                trips=1 + sum(1 for v in route.visits if v.kind == "reload"),
                path={"hops": [[list(c) for c in coords] for _, coords in hops], "return_legs": hops[-1][0]})
    session.add(row)
    sequence = 0
    for stop in carried:
        sequence += 1
        _copy_collected(session, row, stop, sequence)
    remaining = {key: {p.id: q for p, _, q in g.pickups} for key, g in by_key.items()}
    visits_left = defaultdict(int)
    for visit in route.visits:
        if visit.kind == "pickup":
            visits_left[visit.stop_id] += 1
    for visit, (legs, _) in zip(route.visits, hops):
        sequence += 1
        group = by_key.get(visit.stop_id) if visit.kind == "pickup" else None
        stop = Stop(route=row, sequence=sequence, kind=visit.kind, farm_id=group.farm.id if group else None,
                    arrival_at=day0 + timedelta(seconds=visit.arrival_s),
                    departure_at=day0 + timedelta(seconds=visit.departure_s),
                    load_after_kg=visit.load_weight_kg, load_after_l=visit.load_volume_l, legs=legs)
        session.add(stop)
        if group is not None:
            visits_left[visit.stop_id] -= 1
            for pickup, product, quantity in _split_items(group, remaining[group.key], visit.weight_kg,
                                                          last=visits_left[visit.stop_id] == 0):
                session.add(StopItem(stop=stop, pickup_id=pickup.id, quantity=quantity))


def _split_items(group: _StopGroup, remaining: dict[int, int], weight_kg: int, *, last: bool):
    """The units of a farm's pickups collected at one visit (a large pickup is split over visits)."""
    out = []
    budget = weight_kg
    for pickup, product, _ in group.pickups:
        left = remaining[pickup.id]
        if left <= 0:
            continue
        take = left if last else min(left, int(budget // product.unit_weight_kg) if product.unit_weight_kg else left)
        if take <= 0:
            continue
        remaining[pickup.id] -= take
        budget -= take * product.unit_weight_kg
        out.append((pickup, product, take))
    return out


def _road_paths(prepared: _Prepared, routes) -> dict:
    """The road path of every hop of the plan, found together (one search per hop's origin, each
    stopping past the hop's travel time): thousands of hops take seconds."""
    hops = {}
    for route in routes:
        locs = route.locations
        for a, b in zip(locs, locs[1:]):
            if a != b:
                hops[(prepared.nodes[a], prepared.nodes[b])] = int(prepared.problem.durations_s[a, b])
    pairs = list(hops)
    found = shortest_paths(prepared.network, pairs, [hops[p] for p in pairs])
    return {pair: _legs_and_coords(path) for pair, path in zip(pairs, found) if path is not None}


def _legs_and_coords(path) -> tuple[list[dict], list[tuple[float, float]]]:
    legs = [{"road": leg.road, "distance_m": int(round(leg.distance_m)), "duration_s": int(round(leg.travel_time_s))}
            for leg in path.legs]
    return legs, [(float(x), float(y)) for x, y in path.coords]


def _road_path(network: Network, a: int, b: int) -> tuple[list[dict], list[tuple[float, float]]]:
    if a == b:
        return [], [(float(network.node_lon[a]), float(network.node_lat[a]))] * 2
    try:
        path = shortest_path(network, a, b)
    except NoRoute:
        return [], []
    legs = [{"road": leg.road, "distance_m": int(round(leg.distance_m)), "duration_s": int(round(leg.travel_time_s))}
            for leg in path.legs]
    return legs, [(float(x), float(y)) for x, y in path.coords]


@dataclass
class _Position:
    """Where a vehicle of the published plan is: at its last collected stop, or where its driver's
    phone last said it was when that report is newer (``fallback``: the collected stop, if any, for
    a report off the roads)."""

    lat: float
    lon: float
    at: datetime                # when it is there: the stop's planned departure, or the report's time
    load_kg: float              # aboard (what it collected since it last unloaded)
    load_l: float
    reloads: int                # trips to the hub already made
    route_departure_at: datetime
    source: str = "collected stop"
    fallback: "_Position | None" = None


@dataclass
class _Replan:
    """What a new version takes from the published plan of its hub and day."""

    start: list                 # the routes still to drive, as the routing library's stop keys
    published_on: dict[str, int]  # stop key -> the vehicle it was published on
    positions: dict[int, _Position]  # vehicle id -> where it is (vehicles with collected stops)


def _replan_state(session: Session, hub_id: int, on: date) -> _Replan | None:
    """The published plan's routes still to drive, as the routing library's stop keys (a new version
    starts its search from them, a warm start, and what changed is fitted in), which vehicle each
    pickup still to collect was published on, and where each vehicle with collected stops is."""
    published = session.execute(select(DispatchPlan).where(
        DispatchPlan.hub_id == hub_id, DispatchPlan.date == on, DispatchPlan.status == "published")).scalar()
    if published is None:
        return None
    items = [i for r in published.routes for s in r.stops for i in s.items]
    cold = dict(session.execute(select(Pickup.id, Product.cold_chain).join(Product, Product.id == Pickup.product_id)
                                .where(Pickup.id.in_({i.pickup_id for i in items}))).all()) if items else {}
    farms = {}
    collected = [s for r in published.routes for s in r.stops if s.status == "collected" and s.farm_id]
    if collected:
        farms = {f.id: f for f in session.execute(select(Farm).where(
            Farm.id.in_({s.farm_id for s in collected}))).scalars()}
    reports = latest_positions(session, published, {r.vehicle_id for r in published.routes})
    routes, published_on, positions = [], {}, {}
    for route in published.routes:
        done = [s for s in route.stops if s.status == "collected" and s.farm_id in farms]
        last = max(done, key=lambda s: (s.collected_at or s.departure_at, s.sequence)) if done else None
        position = None
        if last is not None:
            farm = farms[last.farm_id]
            position = _Position(
                lat=farm.lat, lon=farm.lon, at=last.departure_at, load_kg=last.load_after_kg or 0,
                load_l=last.load_after_l or 0,
                reloads=sum(1 for s in route.stops if s.kind == "reload" and s.sequence < last.sequence),
                route_departure_at=route.departure_at)
        report = reports.get(route.vehicle_id)
        if report is not None and (last is None or last.collected_at is None or report.reported_at > last.collected_at):
            # Newer than its last collection: it is there now, with what it had aboard since (a
            # reload at the hub in between is not known, so the load is kept: the plan may send it
            # to unload once more, never over its capacity).
            position = _Position(lat=report.lat, lon=report.lon, at=report.reported_at,
                                 load_kg=position.load_kg if position else 0,
                                 load_l=position.load_l if position else 0,
                                 reloads=position.reloads if position else 0,
                                 route_departure_at=route.departure_at, source="reported position",
                                 fallback=position)
        if position is not None:
            positions[route.vehicle_id] = position
        keys = []
        for stop in route.stops:
            if stop.kind == "reload":
                if last is None or stop.sequence > last.sequence:  # the reloads before are behind it
                    keys.append(None)
            elif stop.status != "collected" and stop.farm_id is not None and stop.items:
                key = f"farm{stop.farm_id}-{'cold' if cold.get(stop.items[0].pickup_id) else 'dry'}"
                keys.append(key)
                published_on.setdefault(key, route.vehicle_id)
        routes.append((route.vehicle_id, keys))
    return _Replan(start=routes, published_on=published_on, positions=positions)


def _start_of(vehicle: Vehicle, replan: _Replan | None, start_at: dict[int, int], day0: datetime,
              now: datetime | None) -> dict:
    """The routing vehicle's start on a re-plan: where it is, from when, with what aboard, and the
    trips and route time it has left; nothing (the hub at its shift start) without collected stops."""
    position = replan.positions.get(vehicle.id) if replan is not None else None
    if position is None or vehicle.id not in start_at:
        return {}
    start_s = _since(day0, position.at)
    if now is not None and day0 <= now < day0 + timedelta(days=1):
        start_s = max(start_s, _since(day0, now))
    max_duration_s = vehicle.max_duration_s
    if max_duration_s is not None:
        max_duration_s = max(0, max_duration_s - (start_s - _since(day0, position.route_departure_at)))
    return {"start_location": start_at[vehicle.id], "start_s": start_s,
            "initial_weight_kg": min(math.ceil(position.load_kg - 1e-9), int(vehicle.capacity_kg)),
            "initial_volume_l": min(math.ceil(position.load_l - 1e-9), int(vehicle.capacity_l)),
            "max_trips": max(1, MAX_TRIPS - position.reloads), "max_duration_s": max_duration_s}


def _since(day0: datetime, at: datetime) -> int:
    return max(0, int((at - day0).total_seconds()))


def _collected_stops_of_published(session: Session, hub_id: int, on: date) -> dict[int, list[Stop]]:
    """Stops already collected under the published plan: a re-plan keeps them as they were."""
    published = session.execute(select(DispatchPlan).where(
        DispatchPlan.hub_id == hub_id, DispatchPlan.date == on, DispatchPlan.status == "published")).scalar()
    if published is None:
        return {}
    carried: dict[int, list[Stop]] = defaultdict(list)
    for route in published.routes:
        for stop in route.stops:
            if stop.status == "collected":
                carried[route.vehicle_id].append(stop)
    return dict(carried)


def _copy_collected(session: Session, route: Route, stop: Stop, sequence: int) -> None:
    copy = Stop(route=route, sequence=sequence, kind=stop.kind, farm_id=stop.farm_id, arrival_at=stop.arrival_at,
                departure_at=stop.departure_at, load_after_kg=stop.load_after_kg, load_after_l=stop.load_after_l,
                legs=stop.legs, status="collected", collected_at=stop.collected_at)
    session.add(copy)
    for item in stop.items:
        session.add(StopItem(stop=copy, pickup_id=item.pickup_id, quantity=item.quantity,
                             quantity_collected=item.quantity_collected))


def _store_collected_only(session: Session, plan: DispatchPlan, vehicle: Vehicle, stops: list[Stop]) -> None:
    row = Route(plan=plan, vehicle_id=vehicle.id, driver_id=vehicle.driver_id, departure_at=stops[0].arrival_at,
                return_at=stops[-1].departure_at, distance_m=0, duration_s=0, trips=1,
                path={"hops": [], "return_legs": []})
    session.add(row)
    for i, stop in enumerate(stops, start=1):
        _copy_collected(session, row, stop, i)


def _seconds(value: time | None) -> int:
    return 0 if value is None else value.hour * 3600 + value.minute * 60 + value.second


# --- the planning job -------------------------------------------------------------------------------


def run_planning_job(services, job_id: str, params: dict, progress) -> dict:
    """Job `plan`: params {cooperative_id, hub_id, date, vehicle_ids?, time_limit_s?, seed?, max_iterations?}.

    With max_iterations and no time_limit_s the search is bounded by its own work only (repeatable)."""
    max_iterations = params.get("max_iterations")
    time_limit_s = params.get("time_limit_s") or (None if max_iterations else DEFAULT_TIME_LIMIT_S)
    return plan_dispatch(services.db, services.network, params["cooperative_id"], params["hub_id"],
                         date.fromisoformat(params["date"]), vehicle_ids=params.get("vehicle_ids"),
                         time_limit_s=time_limit_s, job_id=job_id,
                         max_snap_m=services.settings.max_snap_distance_m, progress=progress,
                         seed=params.get("seed") or 0, max_iterations=max_iterations)

"""Route sheets from stored routes: the plain data supply.sheets renders (HTML, PDF, map)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from routing.network import Network
from supply.db.models import Cooperative, Driver, Farm, Hub, Route, Vehicle
from supply.services.plans import serialize_route
from supply.sheets import RouteSheet, SheetItem, SheetLeg, SheetStop

# The map shows the county roads around the route, simplified so the sheet stays light offline.
BACKGROUND_MARGIN_DEG = 0.02
BACKGROUND_TOLERANCE_M = 15.0


def build_route_sheet(session: Session, network: Network, route: Route, *, base_url: str = "") -> RouteSheet:
    data = serialize_route(session, route)
    plan = route.plan
    hub = session.get(Hub, plan.hub_id)
    vehicle = session.get(Vehicle, route.vehicle_id)
    driver = session.get(Driver, route.driver_id) if route.driver_id else None
    cooperative = session.get(Cooperative, plan.cooperative_id)
    local = ZoneInfo(cooperative.timezone)  # a driver reads local times
    stops = []
    for s in data["stops"]:
        is_pickup = s["kind"] == "pickup"
        farm = {"lon": hub.lon, "lat": hub.lat}
        if is_pickup:
            f = session.get(Farm, s["farm_id"])
            farm = {"lon": f.lon, "lat": f.lat}
        stops.append(SheetStop(
            sequence=s["sequence"], kind=s["kind"], stop_id=s["id"],
            farm_name=s["farm_name"] if is_pickup else hub.name, phone=s["phone"] or "", lon=farm["lon"], lat=farm["lat"],
            arrival=s["arrival_at"].astimezone(local), window_start=s["window_start"], window_end=s["window_end"],
            items=[SheetItem(sku=i["sku"], product_name=i["product_name"], quantity=i["quantity"], unit=i["unit"],
                             weight_kg=i["weight_kg"], cold_chain=i["cold_chain"]) for i in s["items"]],
            load_after_kg=s["load_after_kg"], load_after_l=s["load_after_l"],
            legs_from_previous=[SheetLeg(l["road"], l["distance_m"], l["duration_s"]) for l in s["legs"]],
            # The driver's page at this stop (supply/web): a phone opens it from the paper sheet.
            collect_url=f"{base_url}/d/stops/{s['id']}" if is_pickup else None))
    stored = route.path or {}
    path = [list(map(tuple, hop)) for hop in stored.get("hops", [])]
    if path and len(path) < len(stops) + 1:
        # Stops carried over from an earlier version (already collected) have no hop in this one.
        path = [[] for _ in range(len(stops) + 1 - len(path))] + path
    points = [(hub.lon, hub.lat)] + [(s.lon, s.lat) for s in stops] + [p for hop in path for p in hop]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    bbox = (min(lons) - BACKGROUND_MARGIN_DEG, min(lats) - BACKGROUND_MARGIN_DEG,
            max(lons) + BACKGROUND_MARGIN_DEG, max(lats) + BACKGROUND_MARGIN_DEG)
    background = [line.coords for line in network.edge_polylines(bbox=bbox, tolerance_m=BACKGROUND_TOLERANCE_M)]
    return RouteSheet(
        route_id=route.id, plan_id=plan.id, plan_version=plan.version, cooperative_name=cooperative.name,
        hub_name=hub.name, hub_lon=hub.lon, hub_lat=hub.lat, vehicle_name=vehicle.name, vehicle_plate=vehicle.plate or "",
        driver_name=driver.name if driver else "", date=plan.date, departure=route.departure_at.astimezone(local),
        return_at=route.return_at.astimezone(local), total_distance_m=route.distance_m, total_duration_s=route.duration_s,
        stops=stops,
        return_legs=[SheetLeg(l["road"], l["distance_m"], l["duration_s"]) for l in stored.get("return_legs", [])], route_path=path if path else (), background_roads=background,
        attribution=network.attribution, route_url=f"{base_url}/d/routes/{route.id}")

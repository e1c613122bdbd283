"""Re-planning in the middle of the day: a published plan, some stops collected, a road closed that a
route uses later on. The new version starts each truck with collected stops from its last collected farm,
no earlier than the time of the re-plan, with what it has aboard; it keeps the collected stops as they
were and leaves most pickups still to collect on the truck they were published on. A truck whose driver
reported a position after its last collection starts from that position instead. The routing problem
and the solver's plan are checked by routing.check."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from routing import check_plan
from tests.conftest import auth
from tests.helpers import make_product, order, stock
from tests.web.conftest import wait_for_job

DAY = "2026-11-30"
HUB = {"name": "县城集散中心 hub", "lat": 42.5078, "lon": 1.5211, "opens_at": "06:00", "cutoff_at": "18:00"}
# Farms in the valleys of the Andorra test extract.
FARMS = [("Ordino", 42.5562, 1.5331), ("Canillo", 42.5676, 1.5976), ("Encamp", 42.5345, 1.5800),
         ("La Massana", 42.5450, 1.5148), ("Sant Julià", 42.4637, 1.4913), ("Escaldes", 42.5100, 1.5386),
         ("Soldeu", 42.5766, 1.6675), ("Arinsal", 42.5724, 1.4843), ("Pal", 42.5490, 1.4840),
         ("Ransol", 42.5810, 1.6390), ("Anyós", 42.5330, 1.5250), ("Aixovall", 42.4770, 1.4880)]
CAPACITY_KG = 700


def ok(response, status=201):
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def published_day(client, tokens):
    """Twelve farms with 500 bags (250 kg) each to collect, three 700 kg trucks, planned and published."""
    manager = auth(tokens["manager"])
    hub = ok(client.post("/api/v1/hubs", json=HUB, headers=manager))
    for k in range(3):
        driver = ok(client.post("/api/v1/drivers", headers=manager,
                                json={"name": f"司机 {k}", "phone": f"+86 139 0000 20{k}0"}))
        ok(client.post("/api/v1/vehicles", headers=manager, json={
            "hub_id": hub["id"], "name": f"东风 truck {k}", "plate": f"新F-1234{k}", "capacity_kg": CAPACITY_KG,
            "capacity_l": 8000, "shift_start": "06:00", "shift_end": "18:00", "cost_per_km": 2.5,
            "cost_per_use": 50, "driver_id": driver["id"]}))
    make_product(client, manager)
    farms = []
    for i, (name, lat, lon) in enumerate(FARMS):
        farm = ok(client.post("/api/v1/farms", headers=manager, json={
            "name": f"{name} 农户", "lat": lat, "lon": lon, "phone": f"+86 139 0000 {1000 + i}",
            "window_start": "07:00", "window_end": "16:30"}))
        stock(client, manager, farm["id"], "NOODLE-500", 500)
        farms.append(farm)
    for n in range(60):
        ok(client.post("/api/v1/orders", json=order(external_id=f"o-{n}", lines=(("NOODLE-500", 100),)),
                       headers=manager))
    wait_for_job(client, manager, client.post("/api/v1/allocations", json={"date": DAY}, headers=manager))
    for p in client.get(f"/api/v1/pickups?date={DAY}", headers=manager).get_json():
        ok(client.post(f"/api/v1/pickups/{p['id']}/confirm", json={"quantity_ready": p["quantity"]},
                       headers=manager), 200)
    job = wait_for_job(client, manager, client.post("/api/v1/dispatch-plans", headers=manager, json={
        "hub_id": hub["id"], "date": DAY, "max_iterations": 300}))
    plan_id = job["result"]["plan_id"]
    ok(client.post(f"/api/v1/dispatch-plans/{plan_id}/publish", headers=manager), 200)
    plan = client.get(f"/api/v1/dispatch-plans/{plan_id}", headers=manager).get_json()
    return {"hub": hub, "farms": {f["id"]: f for f in farms}, "plan": plan, "manager": manager}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pickups(route) -> list[dict]:
    return [s for s in route["stops"] if s["kind"] == "pickup"]


def replan(client, monkeypatch, hub_id: int, now: datetime, iterations: int = 200):
    """A new version of the day planned at `now`: (its summary, the routing problem as prepared,
    the solver's plan)."""
    from supply.services import planning

    seen = {}
    real_prepare, real_solve = planning._prepare, planning.solve

    def prepare(*args, **kwargs):
        seen["prepared"] = real_prepare(*args, **kwargs)
        return seen["prepared"]

    def solve(problem, **kwargs):
        seen["plan"] = real_solve(problem, **kwargs)
        return seen["plan"]

    monkeypatch.setattr(planning, "_prepare", prepare)
    monkeypatch.setattr(planning, "solve", solve)
    services = client.application.extensions["coop"]
    try:
        summary = planning.plan_dispatch(services.db, services.network, 1, hub_id, date.fromisoformat(DAY),
                                         max_iterations=iterations, time_limit_s=None, now=now)
    finally:
        monkeypatch.undo()
    return summary, seen["prepared"], seen["plan"]


def test_a_replan_after_a_closure_starts_each_truck_where_it_is_with_its_load(client, published_day,
                                                                              monkeypatch):
    from supply.services import planning

    manager, v1 = published_day["manager"], published_day["plan"]
    busy = [r for r in v1["routes"] if len(pickups(r)) >= 3]
    assert len(busy) >= 2, [(r["vehicle_id"], len(pickups(r))) for r in v1["routes"]]
    assert not v1["unplanned"]

    # Each busy truck collected its first pickup, the first of them its second as well.
    collected: dict[int, list[dict]] = {}
    for n, route in enumerate(busy):
        for stop in pickups(route)[:2 if n == 0 else 1]:
            body = {"quantities": [{"sku": i["sku"], "quantity": i["quantity"]} for i in stop["items"]]}
            ok(client.post(f"/api/v1/stops/{stop['id']}/collected", json=body, headers=manager), 200)
            collected.setdefault(route["vehicle_id"], []).append(stop)

    # A road closed near a farm the first busy truck visits later in the day.
    later = pickups(busy[0])[-1]
    farm = published_day["farms"][later["farm_id"]]
    closure = ok(client.post("/api/v1/road-closures", headers=manager, json={
        "lat": farm["lat"], "lon": farm["lon"], "starts_at": f"{DAY}T09:00:00+08:00", "reason": "landslide"}))
    assert v1["id"] in closure["flagged_plans"]

    # The re-plan happens between the trucks' last collections: one waits for the clock, others
    # were already past it.
    departures = sorted(at(stops[-1]["departure_at"]) for stops in collected.values())
    now = departures[0] + (departures[-1] - departures[0]) / 2 + timedelta(minutes=1)
    services = client.application.extensions["coop"]
    summary, prepared, result = replan(client, monkeypatch, published_day["hub"]["id"], now)
    v2 = client.get(f"/api/v1/dispatch-plans/{summary['plan_id']}", headers=manager).get_json()
    assert v2["version"] == 2

    # The routing problem: trucks with collected stops start at their last farm, from then on, loaded.
    problem = prepared.problem
    assert check_plan(problem, result) == []
    assert problem.reassign_penalty == planning.REASSIGN_PENALTY > 0
    day0 = prepared.day0
    vehicles = {v.id: v for v in problem.vehicles}
    for vehicle_id, stops in collected.items():
        v, last = vehicles[vehicle_id], stops[-1]
        farm = published_day["farms"][last["farm_id"]]
        assert prepared.nodes[v.start_location] == services.network.snap(farm["lon"], farm["lat"]).node
        assert v.start_s == int((max(now, at(last["departure_at"])) - day0).total_seconds())
        assert v.initial_weight_kg == math.ceil(last["load_after_kg"]) > 0
        route = next(r for r in result.routes if r.vehicle_id == vehicle_id)
        assert route.locations[0] == v.start_location and route.start_s >= v.start_s
    for v in problem.vehicles:
        if v.id not in collected:
            assert v.start_location is None and v.initial_weight_kg == 0
    assert {s.published_vehicle for s in problem.stops} <= {r["vehicle_id"] for r in v1["routes"]}

    # The stored version: collected stops first and unchanged, then the rest from where the truck is.
    capacity = CAPACITY_KG
    for route in v2["routes"]:
        kept = [s for s in route["stops"] if s["status"] == "collected"]
        before = collected.get(route["vehicle_id"], [])
        assert [(s["farm_id"], [(i["sku"], i["quantity"]) for i in s["items"]]) for s in kept] == \
            [(s["farm_id"], [(i["sku"], i["quantity"]) for i in s["items"]]) for s in before]
        assert route["stops"][:len(kept)] == kept
        rest = route["stops"][len(kept):]
        for stop in rest:
            assert stop["status"] != "collected"
            assert stop["load_after_kg"] <= capacity
        if before and rest:
            start = max(now, at(before[-1]["departure_at"]))
            assert at(rest[0]["arrival_at"]) >= start
            aboard = before[-1]["load_after_kg"]
            if rest[0]["kind"] == "pickup":  # what is aboard counts against the capacity
                assert rest[0]["load_after_kg"] >= aboard + sum(
                    i["weight_kg"] for i in rest[0]["items"]) - 1
    kept_all = {s["farm_id"] for r in v2["routes"] for s in r["stops"] if s["status"] == "collected"}
    assert kept_all == {s["farm_id"] for stops in collected.values() for s in stops}

    # Most pickups still to collect stay on the truck they were published on.
    was = {s["farm_id"]: r["vehicle_id"] for r in v1["routes"] for s in pickups(r)
           if s["farm_id"] not in kept_all}
    now_on = {s["farm_id"]: r["vehicle_id"] for r in v2["routes"] for s in pickups(r)
              if s["status"] != "collected"}
    stayed = sum(1 for farm_id, vehicle_id in was.items() if now_on.get(farm_id) == vehicle_id)
    assert stayed >= 0.75 * len(was), (was, now_on)
    assert result.search["reassigned"] == sum(1 for f, v in was.items() if f in now_on and now_on[f] != v)


def set_collected_at(client, stop_id: int, when: datetime) -> None:
    """The collection happened at `when` on the plan's day (the API stamps the real clock)."""
    from supply.db.models import Stop

    with client.application.extensions["coop"].db.transaction() as session:
        session.get(Stop, stop_id).collected_at = when


def test_a_replan_starts_a_truck_where_its_driver_reported_it_when_that_is_newer(client, published_day,
                                                                                 monkeypatch):
    """A truck whose driver reported a position after its last collection starts there, with its load;
    one with nothing collected starts at its report, empty. Then: a collection after the report puts
    the truck back at that farm, and a report off the roads counts for nothing."""
    manager, v1 = published_day["manager"], published_day["plan"]
    network = client.application.extensions["coop"].network
    routes = sorted((r for r in v1["routes"] if len(pickups(r)) >= 3), key=lambda r: -len(pickups(r)))
    assert len(routes) >= 2, [(r["vehicle_id"], len(pickups(r))) for r in v1["routes"]]
    a, b = routes[0], routes[1]
    farms = published_day["farms"]

    def collect(stop, when):
        body = {"quantities": [{"sku": i["sku"], "quantity": i["quantity"]} for i in stop["items"]]}
        ok(client.post(f"/api/v1/stops/{stop['id']}/collected", json=body, headers=manager), 200)
        set_collected_at(client, stop["id"], when)

    def report(route, point, when):
        body = {"lat": point[0], "lon": point[1], "reported_at": when.isoformat(), "accuracy_m": 12.5}
        return ok(client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=manager))

    def near(farm):  # a point about 100 m north-east of a farm
        return farm["lat"] + 0.0007, farm["lon"] + 0.0007

    def new_version(now):
        summary, prepared, plan = replan(client, monkeypatch, published_day["hub"]["id"], now)
        assert check_plan(prepared.problem, plan) == []
        stored = client.get(f"/api/v1/dispatch-plans/{summary['plan_id']}", headers=manager).get_json()
        return prepared, {v.id: v for v in prepared.problem.vehicles}, stored

    first_a = pickups(a)[0]
    collect(first_a, at(f"{DAY}T09:00:00+08:00"))
    reported_a = report(a, near(farms[pickups(a)[1]["farm_id"]]), at(f"{DAY}T09:40:00+08:00"))
    assert reported_a["vehicle_id"] == a["vehicle_id"] and reported_a["road_distance_m"] < 500
    reported_b = report(b, near(farms[pickups(b)[-1]["farm_id"]]), at(f"{DAY}T09:20:00+08:00"))

    now = at(f"{DAY}T10:00:00+08:00")
    prepared, vehicles, v2 = new_version(now)
    day0 = prepared.day0
    va, vb = vehicles[a["vehicle_id"]], vehicles[b["vehicle_id"]]
    assert prepared.nodes[va.start_location] == network.snap(reported_a["lon"], reported_a["lat"]).node
    assert va.start_s == int((now - day0).total_seconds())
    assert va.initial_weight_kg == math.ceil(first_a["load_after_kg"]) > 0
    assert prepared.nodes[vb.start_location] == network.snap(reported_b["lon"], reported_b["lat"]).node
    assert vb.initial_weight_kg == 0 and vb.start_s == int((now - day0).total_seconds())
    starts = v2["search"]["vehicle_starts"]
    assert {k: v["from"] for k, v in starts.items()} == {str(a["vehicle_id"]): "reported position",
                                                         str(b["vehicle_id"]): "reported position"}
    assert at(starts[str(a["vehicle_id"])]["at"]) == at(f"{DAY}T09:40:00+08:00")
    route_a = next(r for r in v2["routes"] if r["vehicle_id"] == a["vehicle_id"])
    assert route_a["stops"][0]["farm_id"] == first_a["farm_id"] and route_a["stops"][0]["status"] == "collected"
    assert all(at(s["arrival_at"]) >= now for s in route_a["stops"][1:])
    route_b = next(r for r in v2["routes"] if r["vehicle_id"] == b["vehicle_id"])
    assert at(route_b["departure_at"]) == at(b["departure_at"])  # the day's departure from the hub is kept
    assert all(at(s["arrival_at"]) >= now for s in route_b["stops"])

    # a collects its next pickup after its report: it is at that farm. b reports from 20 km off
    # the roads: it starts at the hub (nothing collected).
    ok(client.post(f"/api/v1/dispatch-plans/{v2['id']}/publish", headers=manager), 200)
    route_a = next(r for r in v2["routes"] if r["vehicle_id"] == a["vehicle_id"])
    next_a = next(s for s in route_a["stops"] if s["kind"] == "pickup" and s["status"] != "collected")
    collect(next_a, at(f"{DAY}T10:20:00+08:00"))
    route_b = next(r for r in v2["routes"] if r["vehicle_id"] == b["vehicle_id"])
    off = report(route_b, (42.30, 1.20), at(f"{DAY}T10:25:00+08:00"))
    assert off["road_distance_m"] > 5000
    prepared, vehicles, v3 = new_version(at(f"{DAY}T10:30:00+08:00"))
    va, vb = vehicles[a["vehicle_id"]], vehicles[b["vehicle_id"]]
    farm = farms[next_a["farm_id"]]
    assert prepared.nodes[va.start_location] == network.snap(farm["lon"], farm["lat"]).node
    assert va.initial_weight_kg == math.ceil(next_a["load_after_kg"])
    assert vb.start_location is None and vb.initial_weight_kg == 0
    assert v3["search"]["vehicle_starts"] == {str(a["vehicle_id"]): {
        "from": "collected stop", "at": v3["search"]["vehicle_starts"][str(a["vehicle_id"])]["at"]}}

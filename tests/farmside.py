"""A small world for the farms' side: three farms, one product, orders allocated to the farms, a
published plan whose one route (the first driver's) stops at each farm. Built without the solver, so
tests stay fast; the e2e flow and the demo cover the planned version."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from tests.helpers import make_farm, make_product, stock

DAY = date(2026, 11, 30)
SKU = "NOODLE-500"
FARMS = [("马家 Ma", "+86 138 0000 1111"), ("李家 Li", "13900002222"), ("王家 Wang", "0571-8888 1234")]


def post(client, path, headers, body, status=201):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, (path, response.status_code, response.get_json())
    return response.get_json()


def build(client, manager, db, tokens, *, orders: int = 6, per_order: int = 2, stock_each: int = 6) -> dict:
    """Farms with `stock_each` confirmed units each; `orders` orders of `per_order` units; allocated
    (fair share) for DAY, confirmed, on one published route. Returns ids."""
    from supply.db.models import DispatchPlan, Hub, Pickup, Route, Stop, StopItem, Vehicle
    from supply.services.allocation import allocate
    from sqlalchemy import select

    make_product(client, manager)
    farms = []
    for name, phone in FARMS:
        farm = make_farm(client, manager, name=name, phone=phone)
        stock(client, manager, farm["id"], SKU, stock_each)
        farms.append(farm["id"])
    order_ids = {}
    for n in range(orders):
        body = {"platform": "douyin", "external_id": f"dy-{n}", "lines": [{"sku": SKU, "quantity": per_order}],
                "buyer": {"name": f"买家{n}", "phone": f"1380000{n:04d}", "address": f"某县某村{n}号"}}
        order_ids[f"dy-{n}"] = post(client, "/api/v1/orders", manager, body)["id"]
    with db.transaction() as s:
        allocate(s, 1, DAY)
    with db.transaction() as s:
        pickups = s.execute(select(Pickup).where(Pickup.date == DAY).order_by(Pickup.farm_id)).scalars().all()
        for p in pickups:
            p.quantity_ready, p.status = p.quantity, "confirmed"
        hub = Hub(cooperative_id=1, name="县仓 hub", lat=42.5078, lon=1.5211, opens_at=time(6), cutoff_at=time(18))
        s.add(hub)
        s.flush()
        vehicle = Vehicle(cooperative_id=1, hub_id=hub.id, name="truck", capacity_kg=1000, capacity_l=1000,
                          shift_start=time(6), shift_end=time(18), driver_id=tokens["driver_id"])
        s.add(vehicle)
        s.flush()
        plan = DispatchPlan(cooperative_id=1, hub_id=hub.id, date=DAY, version=1, status="published", unplanned=[],
                            published_at=datetime.now(timezone.utc))
        s.add(plan)
        s.flush()
        start = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)  # 08:30 in Beijing
        route = Route(plan_id=plan.id, vehicle_id=vehicle.id, driver_id=tokens["driver_id"], departure_at=start,
                      return_at=start + timedelta(hours=3), distance_m=0, duration_s=0, path=None)
        s.add(route)
        s.flush()
        stops = {}
        for i, p in enumerate(pickups):
            at = start + timedelta(minutes=40 * (i + 1))
            stop = Stop(route_id=route.id, sequence=i + 1, kind="pickup", farm_id=p.farm_id, arrival_at=at,
                        departure_at=at + timedelta(minutes=10), load_after_kg=1, load_after_l=1, legs=[])
            s.add(stop)
            s.flush()
            s.add(StopItem(stop_id=stop.id, pickup_id=p.id, quantity=p.quantity))
            stops[p.farm_id] = stop.id
        s.flush()
        return {"farms": farms, "orders": order_ids, "plan_id": plan.id, "route_id": route.id, "stops": stops,
                "pickups": {p.farm_id: p.id for p in pickups}, "quantities": {p.farm_id: p.quantity for p in pickups},
                "hub_id": hub.id, "vehicle_id": vehicle.id}

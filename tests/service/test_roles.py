"""Every endpoint against every role: none, manager, host, driver, another driver.

The table must name every operation in the OpenAPI document, so a new endpoint cannot be added
without deciding who may call it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from tests.conftest import auth
from tests.helpers import order, stocked_farm

SKU = "NOODLE-500"
ROLES = ("none", "manager", "host", "driver", "other_driver")

# (method, path template, body, roles allowed). "driver" in a row about a route or stop means the
# route's own driver; "other_driver" is the driver of another route.
TABLE = [
    ("get", "/api/v1/farms", None, {"manager"}),
    ("post", "/api/v1/farms", {"name": "f", "lat": 42.5, "lon": 1.52}, {"manager"}),
    ("get", "/api/v1/farms/{farm_id}", None, {"manager"}),
    ("get", "/api/v1/products", None, {"manager", "host"}),
    ("post", "/api/v1/products", {"sku": "X1", "name": "x", "unit": "bag", "unit_weight_kg": 1,
                                  "unit_volume_l": 1}, {"manager"}),
    ("get", "/api/v1/products/{sku}/availability", None, {"manager", "host"}),
    ("post", "/api/v1/stock/adjustments", {"farm_id": "{farm_id}", "sku": SKU, "delta": 1, "kind": "declared",
                                           "reason": "r"}, {"manager"}),
    ("get", "/api/v1/stock/ledger", None, {"manager"}),
    ("post", "/api/v1/streams", {"platform": "douyin", "host": "h", "starts_at": "2026-11-23T20:00:00+08:00"},
     {"manager", "host"}),
    ("post", "/api/v1/streams/{stream_id}/holds", {"sku": SKU, "quantity": 1}, {"manager", "host"}),
    ("post", "/api/v1/orders", order(external_id="role-1"), {"manager"}),
    ("post", "/api/v1/orders/batch", {"orders": [order(external_id="role-2")]}, {"manager"}),
    ("get", "/api/v1/orders/{order_id}", None, {"manager"}),
    ("post", "/api/v1/orders/{order_id}/cancel", None, {"manager"}),
    ("post", "/api/v1/platform-products", {"platform": "douyin", "product_ref": "p1", "sku": SKU}, {"manager"}),
    ("get", "/api/v1/platform-messages", None, {"manager"}),
    ("post", "/api/v1/platform-messages/{message_pk}/order", {"lines": [{"sku": SKU, "quantity": 1}]}, {"manager"}),
    ("get", "/api/v1/jobs/{job_id}", None, {"manager"}),
    ("get", "/api/v1/hubs", None, {"manager"}),
    ("post", "/api/v1/hubs", {"name": "h", "lat": 42.5, "lon": 1.52, "opens_at": "06:00", "cutoff_at": "18:00"},
     {"manager"}),
    ("get", "/api/v1/vehicles", None, {"manager"}),
    ("post", "/api/v1/vehicles", {"hub_id": "{hub_id}", "name": "v", "capacity_kg": 100, "capacity_l": 100,
                                  "shift_start": "06:00", "shift_end": "18:00"}, {"manager"}),
    ("post", "/api/v1/drivers", {"name": "d"}, {"manager"}),
    ("post", "/api/v1/allocations", {"date": "2026-11-24"}, {"manager"}),
    ("get", "/api/v1/pickups", None, {"manager"}),
    ("post", "/api/v1/pickups/{pickup_id}/confirm", {"quantity_ready": 1}, {"manager"}),
    ("post", "/api/v1/dispatch-plans", {"hub_id": "{hub_id}", "date": "2026-11-25", "time_limit_s": 1},
     {"manager"}),
    ("get", "/api/v1/dispatch-plans/{plan_id}", None, {"manager"}),
    ("post", "/api/v1/dispatch-plans/{plan_id}/publish", None, {"manager"}),
    ("get", "/api/v1/routes/{route_id}", None, {"manager", "driver"}),
    ("get", "/api/v1/routes/{route_id}/sheet.html", None, {"manager", "driver"}),
    ("get", "/api/v1/routes/{route_id}/sheet.pdf", None, {"manager", "driver"}),
    ("post", "/api/v1/routes/{route_id}/position", {"lat": 42.5, "lon": 1.5}, {"manager", "driver"}),
    ("post", "/api/v1/stops/{stop_id}/collected", {"quantities": [{"sku": SKU, "quantity": 1}]},
     {"manager", "driver"}),
    ("post", "/api/v1/road-closures", {"lat": 42.5, "lon": 1.52, "starts_at": "2026-11-24T05:00:00+08:00",
                                       "reason": "snow"}, {"manager"}),
    # The farms' side: managers only (hosts and drivers never see prices, statements or recalls).
    ("post", "/api/v1/farm-gate-prices", {"sku": SKU, "valid_from": "2026-11-01", "price_fen": 150}, {"manager"}),
    ("get", "/api/v1/farm-gate-prices", None, {"manager"}),
    ("get", "/api/v1/statements", None, {"manager"}),
    ("get", "/api/v1/statements/export", None, {"manager"}),
    ("get", "/api/v1/payouts", None, {"manager"}),
    ("get", "/api/v1/payouts.csv", None, {"manager"}),
    ("get", "/api/v1/trace/farm-units", None, {"manager"}),
    ("get", "/api/v1/trace/orders/{order_id}", None, {"manager"}),
    ("post", "/api/v1/recalls", {"farm_id": "{farm_id}", "sku": SKU, "date_from": "2026-11-24",
                                 "date_to": "2026-11-24", "reason": "mould"}, {"manager"}),
    ("get", "/api/v1/recalls/{recall_id}", None, {"manager"}),
    ("get", "/api/v1/recalls/{recall_id}/orders.csv", None, {"manager"}),
    ("get", "/api/v1/personal-data-exports", None, {"manager"}),
    ("post", "/api/v1/notices", {"date": "2026-11-24"}, {"manager"}),
    ("get", "/api/v1/notices", None, {"manager"}),
    ("get", "/api/v1/notices/slips.pdf", None, {"manager"}),
    ("get", "/api/v1/notices/call-list.csv", None, {"manager"}),
    # Platform shops: credentials, listings and waybills are the managers'.
    ("get", "/api/v1/platform-accounts", None, {"manager"}),
    ("post", "/api/v1/platform-accounts", {"platform": "youzan", "credentials": {"client_id": "c",
                                                                                 "client_secret": "s"}}, {"manager"}),
    ("post", "/api/v1/platform-accounts/{platform}/authorization", {"code": "c"}, {"manager"}),
    ("get", "/api/v1/platform-listings", None, {"manager"}),
    ("post", "/api/v1/platform-listings", {"platform": "douyin", "product_ref": "l1", "sku": SKU}, {"manager"}),
    ("get", "/api/v1/orders/{order_id}/shipment", None, {"manager"}),
    ("put", "/api/v1/orders/{order_id}/shipment", {"carrier_code": "zto", "waybill": "ZT123456"}, {"manager"}),
    ("post", "/api/v1/shipments", {"csv": "platform,external_order_id,carrier_code,waybill\n"}, {"manager"}),
]
# Not behind a token: the document itself, and the signed webhook (checked in test_webhooks).
PUBLIC = {("post", "/api/v1/webhooks/{platform}"),
          ("post", "/api/v1/webhooks/{platform}/{path_token}")}   # a cooperative's own address


@pytest.fixture
def world(client, manager, tokens, db):
    """One of everything, with a published plan whose route belongs to the first driver."""
    from supply.db.models import DispatchPlan, Hub, Job, Pickup, PlatformMessage, Route, Stop, StopItem, Vehicle

    farm = stocked_farm(client, manager, 50)
    stream = client.post("/api/v1/streams", headers=manager, json={
        "platform": "douyin", "host": "h", "starts_at": "2026-11-23T20:00:00+08:00"}).get_json()
    created = client.post("/api/v1/orders", json=order(external_id="world", lines=[(SKU, 2)]), headers=manager)
    with db.transaction() as s:
        hub = Hub(cooperative_id=1, name="hub", lat=42.5078, lon=1.5211, opens_at=time(6), cutoff_at=time(18))
        s.add(hub)
        s.flush()
        vehicle = Vehicle(cooperative_id=1, hub_id=hub.id, name="truck", capacity_kg=1000, capacity_l=1000,
                          shift_start=time(6), shift_end=time(18), driver_id=tokens["driver_id"])
        pickup = Pickup(cooperative_id=1, farm_id=farm["id"], product_id=1, date=date(2026, 11, 24), quantity=2,
                        quantity_ready=2, status="confirmed")
        s.add_all([vehicle, pickup])
        s.flush()
        plan = DispatchPlan(cooperative_id=1, hub_id=hub.id, date=date(2026, 11, 24), version=1, status="published",
                            unplanned=[])
        s.add(plan)
        s.flush()
        at = datetime(2026, 11, 24, 1, tzinfo=timezone.utc)
        route = Route(plan_id=plan.id, vehicle_id=vehicle.id, driver_id=tokens["driver_id"], departure_at=at,
                      return_at=at, distance_m=0, duration_s=0, path={"hops": [], "return_legs": []})
        s.add(route)
        s.flush()
        stop = Stop(route_id=route.id, sequence=1, kind="pickup", farm_id=farm["id"], arrival_at=at, departure_at=at,
                    load_after_kg=1, load_after_l=1, legs=[])
        s.add(stop)
        s.flush()
        s.add(StopItem(stop_id=stop.id, pickup_id=pickup.id, quantity=2))
        job = Job(id="00000000-0000-0000-0000-000000000001", cooperative_id=1, kind="allocate", params={},
                  status="finished", progress=100)
        s.add(job)
        message = PlatformMessage(cooperative_id=1, platform="douyin", message_id="m-world", kind="paid",
                                  external_order_id="w-1", status="needs_order_detail", payload={}, created_at=at)
        s.add(message)
        s.flush()
        ids = {"farm_id": farm["id"], "sku": SKU, "stream_id": stream["id"], "order_id": created.get_json()["id"],
               "hub_id": hub.id, "pickup_id": pickup.id, "plan_id": plan.id, "route_id": route.id,
               "stop_id": stop.id, "job_id": job.id, "message_pk": message.id,
               "platform": "youzan",
               "recall_id": 1}  # no recall yet: a manager gets 404, everyone else 401 or 403
    return ids


def fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def headers_for(role, tokens):
    return {} if role == "none" else auth(tokens[role])


def test_the_table_names_every_operation_of_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = {(method, path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    tabled = {(method, path) for method, path, _, _ in TABLE} | PUBLIC
    assert operations == tabled


@pytest.mark.parametrize("method,path,body,allowed", TABLE, ids=[f"{m} {p}" for m, p, _, _ in TABLE])
def test_each_role_gets_in_or_is_kept_out(client, tokens, world, method, path, body, allowed):
    url = fill(path, world)
    for role in ROLES:
        response = getattr(client, method)(url, json=fill(body, world), headers=headers_for(role, tokens))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.get_json())
        else:
            assert response.status_code == (401 if role == "none" else 403), (role, response.status_code)
            assert response.get_json()["error"]["code"] in ("unauthorized", "forbidden")


def test_buyers_personal_data_never_reaches_hosts_or_drivers(client, manager, tokens, world):
    body = order(external_id="with-buyer", lines=[(SKU, 1)])
    body["buyer"] = {"name": "张三", "phone": "13800000000", "address": "湖北省十堰市某村 8 号"}
    assert client.post("/api/v1/orders", json=body, headers=manager).status_code == 201
    for role in ("host", "driver"):
        headers = auth(tokens[role])
        texts = [client.get(f"/api/v1/products/{SKU}/availability", headers=headers).get_data(as_text=True),
                 client.get(f"/api/v1/routes/{world['route_id']}", headers=headers).get_data(as_text=True),
                 client.get(f"/api/v1/routes/{world['route_id']}/sheet.html", headers=headers).get_data(as_text=True)]
        for text in texts:
            assert "张三" not in text and "13800000000" not in text and "十堰" not in text

"""Pages: a client that signs in through the forms, and a small published day to drive."""
from __future__ import annotations

import re
import time

import pytest

from tests.conftest import auth
from tests.helpers import make_product, order, stock

DAY = "2026-11-30"
EVIL = "<script>alert(1)</script>"
HUB = {"name": "县城集散中心 hub", "lat": 42.5078, "lon": 1.5211, "opens_at": "06:00", "cutoff_at": "18:00"}
# Farms on the Andorra test extract (its roads are the routing test data), named as a county's are.
FARMS = [(EVIL, 42.5562, 1.5331), ("卡尼略 王家农户", 42.5676, 1.5976), ("恩坎普 李家农户", 42.5345, 1.5800)]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def sign_in(client, token: str):
    page = client.get("/signin")
    return client.post("/signin", data={"token": token, "csrf_token": csrf_of(page.get_data(as_text=True))})


def post_form(client, path: str, data: dict, *, page: str = "/signin"):
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def _ok(response, status=201):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def wait_for_job(client, headers, accepted) -> dict:
    job_id = _ok(accepted, 202)["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
        if job["status"] in ("finished", "failed"):
            assert job["status"] == "finished", job
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def build_day(client, tokens, *, publish: bool = True, on: str = DAY) -> dict:
    """Three farms (one named like a script), one product, orders allocated, confirmed, planned
    for one truck driven by the `driver` token's driver, and published (unless told not to), on
    the day `on`."""
    manager = auth(tokens["manager"])
    hub = _ok(client.post("/api/v1/hubs", json=HUB, headers=manager))
    _ok(client.post("/api/v1/vehicles", headers=manager, json={
        "hub_id": hub["id"], "name": "东风 truck", "plate": "新F-12345", "capacity_kg": 2000, "capacity_l": 8000,
        "shift_start": "06:00", "shift_end": "18:00", "driver_id": tokens["driver_id"]}))
    make_product(client, manager)
    farms = []
    for i, (name, lat, lon) in enumerate(FARMS):
        farm = _ok(client.post("/api/v1/farms", headers=manager, json={
            "name": name, "lat": lat, "lon": lon, "phone": f"+86 139 0000 {1000 + i}",
            "window_start": "07:00", "window_end": "16:00"}))
        stock(client, manager, farm["id"], "NOODLE-500", 20)
        farms.append(farm)
    for n in range(6):
        _ok(client.post("/api/v1/orders", json=order(external_id=f"o-{n}", lines=(("NOODLE-500", 10),)),
                        headers=manager))
    wait_for_job(client, manager, client.post("/api/v1/allocations", json={"date": on}, headers=manager))
    pickups = client.get(f"/api/v1/pickups?date={on}", headers=manager).get_json()
    result = {"hub": hub, "farms": farms, "pickups": pickups}
    if not publish:
        return result
    for p in pickups:
        _ok(client.post(f"/api/v1/pickups/{p['id']}/confirm", json={"quantity_ready": p["quantity"]},
                        headers=manager), 200)
    job = wait_for_job(client, manager, client.post("/api/v1/dispatch-plans", headers=manager, json={
        "hub_id": hub["id"], "date": on, "time_limit_s": 1}))
    plan_id = job["result"]["plan_id"]
    _ok(client.post(f"/api/v1/dispatch-plans/{plan_id}/publish", headers=manager), 200)
    plan = client.get(f"/api/v1/dispatch-plans/{plan_id}", headers=manager).get_json()
    route = next(r for r in plan["routes"] if r["driver_id"] == tokens["driver_id"])
    return {**result, "plan": plan, "route": route}


@pytest.fixture
def day(client, tokens):
    return build_day(client, tokens)


from tests.web.browser import browser, served  # noqa: E402,F401  (fixtures: one browser for the session)

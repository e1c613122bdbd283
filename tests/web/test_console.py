"""The manager's console: catalog forms checked as the API checks them, pickups confirmed with what
became of a shortfall, allocation and planning as jobs, versions side by side, publishing, the plan's
map, drivers' links, road closures, exports."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.conftest import auth
from tests.web.conftest import DAY, EVIL, build_day, csrf_of, sign_in


def _form(client, path, data, page="/m/"):
    return client.post(path, data={**data, "csrf_token": csrf_of(client.get(page).get_data(as_text=True))})


def test_farms_are_created_with_the_apis_validation_and_names_shown_as_text(client, tokens):
    sign_in(client, tokens["manager"])
    bad = _form(client, "/m/farms", {"name": "坏农户", "lat": "95", "lon": "1.5"})
    assert bad.status_code == 422 and "<b>纬度</b>" in bad.get_data(as_text=True)
    not_a_number = _form(client, "/m/farms", {"name": "坏农户", "lat": "北纬", "lon": "1.5"})
    assert not_a_number.status_code == 422 and "<b>纬度</b>: 不是数字" in not_a_number.get_data(as_text=True)
    window = _form(client, "/m/farms", {"name": "半个时间窗", "lat": "42.55", "lon": "1.53", "window_start": "08:00"})
    assert window.status_code == 422 and "<b>时间窗结束</b>" in window.get_data(as_text=True)
    good = _form(client, "/m/farms", {"name": EVIL, "lat": "42.5562", "lon": "1.5331", "phone": "+86 139 0000 1000",
                                      "window_start": "07:00", "window_end": "16:00"})
    assert good.status_code == 302
    page = client.get("/m/farms").get_data(as_text=True)
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "已保存" in page


def test_products_vehicles_and_drivers_are_created_from_their_forms(client, tokens):
    sign_in(client, tokens["manager"])
    from tests.conftest import auth
    from tests.web.conftest import HUB

    client.post("/api/v1/hubs", json=HUB, headers=auth(tokens["manager"]))
    assert _form(client, "/m/products", {"sku": "HONEY-1", "name": "土蜂蜜", "unit": "瓶", "unit_weight_kg": "1.2",
                                         "unit_volume_l": "1", "cold_chain": "1"}).status_code == 302
    assert _form(client, "/m/products", {"sku": "bad sku!", "name": "x", "unit": "x", "unit_weight_kg": "1",
                                         "unit_volume_l": "1"}).status_code == 422
    assert "土蜂蜜" in client.get("/m/products").get_data(as_text=True)
    assert _form(client, "/m/drivers", {"name": "赵师傅", "phone": "+86 137 0000 0001"}).status_code == 302
    assert _form(client, "/m/drivers", {"name": "号码错", "phone": "abc"}).status_code == 422
    hub_id = re.search(r'<option value="(\d+)">', client.get("/m/vehicles").get_data(as_text=True)).group(1)
    assert _form(client, "/m/vehicles", {"hub_id": hub_id, "name": "三轮车", "capacity_kg": "300", "capacity_l": "900",
                                         "shift_start": "06:00", "shift_end": "18:00"}).status_code == 302
    assert _form(client, "/m/vehicles", {"hub_id": hub_id, "name": "超载", "capacity_kg": "-1", "capacity_l": "900",
                                         "shift_start": "06:00", "shift_end": "18:00"}).status_code == 422
    assert "三轮车" in client.get("/m/vehicles").get_data(as_text=True)
    assert "赵师傅" in client.get("/m/drivers").get_data(as_text=True)


def test_allocation_runs_as_a_job_and_a_confirmed_shortfall_says_what_became_of_it(client, tokens):
    day = build_day(client, tokens, publish=False)
    sign_in(client, tokens["manager"])
    page = client.get(f"/m/pickups?date={DAY}").get_data(as_text=True)
    assert "&lt;script&gt;" in page and EVIL not in page and "待确认" in page
    pickup = day["pickups"][0]
    short = _form(client, f"/m/pickups/{pickup['id']}/confirm", {"quantity_ready": str(pickup["quantity"] - 5)},
                  page=f"/m/pickups?date={DAY}")
    assert short.status_code == 302
    page = client.get(f"/m/pickups?date={DAY}").get_data(as_text=True)
    assert "短缺 5" in page and "缺货待补" in page
    too_many = _form(client, f"/m/pickups/{day['pickups'][1]['id']}/confirm", {"quantity_ready": "100000"})
    assert too_many.status_code == 422
    job = _form(client, "/m/allocations", {"date": DAY, "policy": "fair_share"})
    assert job.status_code == 302 and "/m/jobs/" in job.headers["Location"]
    assert "完成" in client.get(job.headers["Location"]).get_data(as_text=True)


def test_a_plan_is_made_compared_mapped_and_published_from_the_console(client, tokens):
    day = build_day(client, tokens, publish=False)
    sign_in(client, tokens["manager"])
    for p in day["pickups"]:
        assert _form(client, f"/m/pickups/{p['id']}/confirm", {"quantity_ready": str(p["quantity"])}).status_code == 302
    for _ in range(2):
        started = _form(client, "/m/plans", {"hub_id": str(day["hub"]["id"]), "date": DAY, "time_limit_s": "1"})
        assert started.status_code == 302
        job_page = client.get(started.headers["Location"]).get_data(as_text=True)
        assert "打开方案" in job_page
    plan_url = re.search(r'href="(/m/plans/\d+)"', job_page).group(1)
    plan_page = client.get(plan_url).get_data(as_text=True)
    assert '<svg class="plan-map"' in plan_page and 'class="route"' in plan_page
    assert EVIL not in plan_page and "&lt;script&gt;alert(1)&lt;/script&gt;" in plan_page
    versions = client.get(f"/m/plans?date={DAY}").get_data(as_text=True)
    assert versions.count("<tr data-plan-id=") == 2 and versions.count(">草稿<") == 2
    assert 'name="time_limit_s" value="45"' in versions  # the planning job's default limit
    plan_id = plan_url.rsplit("/", 1)[1]
    assert _form(client, f"/m/plans/{plan_id}/publish", {}).status_code == 302
    versions = client.get(f"/m/plans?date={DAY}").get_data(as_text=True)
    assert re.search(rf'<tr data-plan-id="{plan_id}" class="published">', versions)
    # The driver sends the truck's position: the plan's page shows when, and where on Amap.
    assert "司机最后发送的位置" not in client.get(plan_url).get_data(as_text=True)
    route_id = client.get(f"/api/v1/dispatch-plans/{plan_id}", headers=auth(tokens["manager"])).get_json()["routes"][0]["id"]
    sent = client.post(f"/api/v1/routes/{route_id}/position", headers=auth(tokens["driver"]),
                       json={"lat": 42.5345, "lon": 1.58, "reported_at": f"{DAY}T10:05:00+08:00"})
    assert sent.status_code == 201, sent.get_json()
    plan_page = client.get(plan_url).get_data(as_text=True)
    assert re.search(r"司机最后发送的位置 10:05 · <a href=\"https://uri.amap.com/marker\?position=1\.5", plan_page)


def test_a_driver_link_is_issued_with_its_qr_code_and_revoked_from_the_console(client, tokens, app):
    sign_in(client, tokens["manager"])
    issued = _form(client, f"/m/drivers/{tokens['driver_id']}/link", {}, page="/m/drivers")
    page = issued.get_data(as_text=True)
    url = re.search(r'class="signin-link" href="([^"]+)"', page).group(1)
    assert '<svg' in page and "/s/link_" in url
    phone = app.test_client()
    assert phone.get(url.removeprefix("http://localhost")).status_code == 302
    assert phone.get("/d/").status_code == 200
    link_id = re.search(r'<tr data-link-id="(\d+)"', client.get("/m/drivers").get_data(as_text=True)).group(1)
    assert _form(client, f"/m/links/{link_id}/revoke", {}, page="/m/drivers").status_code == 302
    assert phone.get("/d/").status_code == 302


def test_a_road_closure_is_placed_from_a_point(client, tokens):
    build_day(client, tokens, publish=False)
    sign_in(client, tokens["manager"])
    made = _form(client, "/m/closures", {"lat": "42.55", "lon": "1.53", "starts_at": "2026-11-30T06:00",
                                         "reason": "塌方 <landslide>"})
    assert made.status_code == 302
    page = client.get("/m/closures").get_data(as_text=True)
    assert "塌方 &lt;landslide&gt;" in page and "道路已封闭" in page
    assert _form(client, "/m/closures", {"lat": "42.55", "lon": "1.53", "starts_at": "not a time",
                                         "reason": "x"}).status_code == 422


def test_exports_open_in_a_spreadsheet_with_chinese_intact_and_no_formulas(client, tokens):
    build_day(client, tokens, publish=False)
    from tests.conftest import auth

    client.post("/api/v1/farms", headers=auth(tokens["manager"]),
                json={"name": "=HYPERLINK(\"http://x\")", "lat": 42.53, "lon": 1.58})
    sign_in(client, tokens["manager"])
    csv = client.get(f"/m/exports/pickups.csv?date={DAY}")
    assert csv.status_code == 200 and csv.data.startswith("\ufeff".encode())
    text = csv.data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("农户,电话") and "卡尼略 王家农户" in text
    xlsx = client.get(f"/m/exports/pickups.xlsx?date={DAY}")
    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.values)
    assert rows[0][0] == "农户" and any(r[0] == EVIL for r in rows[1:])
    ledger = list(load_workbook(io.BytesIO(client.get("/m/exports/ledger.xlsx").data)).active.values)
    assert len(ledger) > 1 and not any(str(c).startswith("=") for r in ledger for c in r if c is not None)
    assert client.get("/m/exports/ledger.pdf").status_code == 404


def test_the_dashboard_shows_todays_figures(client, tokens):
    build_day(client, tokens, publish=False)
    sign_in(client, tokens["manager"])
    page = client.get("/m/").get_data(as_text=True)
    assert re.search(r'<b class="reserved">6</b>', page) and re.search(r'<b class="refused">0</b>', page)


def test_a_farm_and_a_driver_are_edited_with_the_apis_validation(client, tokens):
    from tests.conftest import auth

    farm = client.post("/api/v1/farms", headers=auth(tokens["manager"]),
                       json={"name": "旧名", "lat": 42.5562, "lon": 1.5331}).get_json()
    sign_in(client, tokens["manager"])
    form = client.get(f"/m/farms/{farm['id']}").get_data(as_text=True)
    assert 'value="旧名"' in form
    bad = _form(client, f"/m/farms/{farm['id']}", {"name": "新名", "lat": "42.5562", "lon": "1.5331",
                                                   "phone": "not a phone"})
    assert bad.status_code == 422 and "<b>电话</b>: 不是电话号码" in bad.get_data(as_text=True)
    moved = _form(client, f"/m/farms/{farm['id']}", {"name": "新名 <b>", "lat": "42.5676", "lon": "1.5976",
                                                     "window_start": "08:00", "window_end": "11:00"})
    assert moved.status_code == 302
    after = client.get(f"/api/v1/farms/{farm['id']}", headers=auth(tokens["manager"])).get_json()
    assert after["name"] == "新名 <b>" and after["lat"] == 42.5676 and after["node_id"] != farm["node_id"]
    assert "新名 &lt;b&gt;" in client.get("/m/farms").get_data(as_text=True)
    assert _form(client, f"/m/drivers/{tokens['driver_id']}", {"name": "马师傅", "phone": "+86 138 0000 0009"},
                 page="/m/drivers").status_code == 302
    assert "+86 138 0000 0009" in client.get("/m/drivers").get_data(as_text=True)
    assert client.get("/m/farms/999999").status_code == 404


def test_a_platform_message_waiting_for_its_lines_is_completed_from_the_dashboard(client, db, tokens):
    from supply.db.models import Order, PlatformMessage
    from tests.conftest import auth
    from tests.helpers import make_farm, make_product, stock

    manager = auth(tokens["manager"])
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], "NOODLE-500", 10)
    with db.transaction() as session:
        session.add(PlatformMessage(cooperative_id=1, platform="douyin", message_id="m-1", kind="paid",
                                    external_order_id="dy-777", status="needs_order_detail", payload={}))
    sign_in(client, tokens["manager"])
    page = client.get("/m/").get_data(as_text=True)
    assert '<b class="waiting">1</b>' in page and "平台未发送订单明细" in page
    message_id = re.search(r'action="/m/messages/(\d+)/order"', page).group(1)
    assert _form(client, f"/m/messages/{message_id}/order", {"sku": "NOODLE-500", "quantity": "0"}).status_code == 422
    assert _form(client, f"/m/messages/{message_id}/order", {"sku": "NOODLE-500", "quantity": "3"}).status_code == 302
    with db.transaction() as session:
        order = session.query(Order).filter_by(external_id="dy-777").one()
        assert order.status == "reserved" and sum(line.quantity for line in order.lines) == 3
    assert '<b class="waiting">0</b>' in client.get("/m/").get_data(as_text=True)


def test_a_product_and_a_vehicle_are_edited_keeping_what_the_form_does_not_show(client, tokens):
    from tests.conftest import auth
    from tests.web.conftest import HUB

    manager = auth(tokens["manager"])
    hub = client.post("/api/v1/hubs", json=HUB, headers=manager).get_json()
    client.post("/api/v1/products", headers=manager, json={"sku": "TEA-1", "name": "茶", "unit": "盒",
                                                           "unit_weight_kg": 0.3, "unit_volume_l": 0.5,
                                                           "shelf_life_days": 300})
    vehicle = client.post("/api/v1/vehicles", headers=manager, json={
        "hub_id": hub["id"], "name": "面包车", "capacity_kg": 800, "capacity_l": 3000, "shift_start": "06:00",
        "shift_end": "18:00", "cost_per_km": 2.5, "max_duration_s": 30000}).get_json()
    sign_in(client, tokens["manager"])
    page = client.get("/m/products/TEA-1").get_data(as_text=True)
    form = {"name": "高山茶", "unit": "盒", "unit_weight_kg": "0.35", "unit_volume_l": "0.5",
            "shelf_life_days": re.search(r'name="shelf_life_days"[^>]*value="(\d+)"', page).group(1)}
    assert _form(client, "/m/products/TEA-1", form).status_code == 302
    assert _form(client, "/m/products/TEA-1", {**form, "unit_weight_kg": "0"}).status_code == 422
    product = next(p for p in client.get("/api/v1/products", headers=manager).get_json() if p["sku"] == "TEA-1")
    assert (product["name"], product["unit_weight_kg"], product["shelf_life_days"]) == ("高山茶", 0.35, 300)
    page = client.get(f"/m/vehicles/{vehicle['id']}").get_data(as_text=True)
    fields = dict(re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', page))
    fields.pop("csrf_token")
    fields.update(name="大面包车", capacity_kg="900", hub_id=str(hub["id"]))  # a select, not an input
    assert _form(client, f"/m/vehicles/{vehicle['id']}", fields).status_code == 302
    after = next(v for v in client.get("/api/v1/vehicles", headers=manager).get_json() if v["id"] == vehicle["id"])
    assert (after["name"], after["capacity_kg"], after["cost_per_km"], after["max_duration_s"]) == \
        ("大面包车", 900, 2.5, 30000)

"""The driver's page: the route from the QR link, each stop with its farm, phone, navigation and
goods; marks applied once per idempotency key; other drivers and visitors refused."""
from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from supply.db.models import Pickup, StockLedgerEntry, StopMark
from supply.services.web import create_link
from tests.web.conftest import EVIL, csrf_of


def _driver_client(app, db, driver_id):
    client = app.test_client()
    with db.transaction() as session:
        link = create_link(session, 1, role="driver", driver_id=driver_id)
    assert client.get(f"/s/{link['token']}").status_code == 302
    return client


def _pickup_stops(route):
    return [s for s in route["stops"] if s["kind"] == "pickup"]


def _mark(client, stop, csrf, key, *, quantities=None, reason=None):
    quantities = quantities or {i["sku"]: i["quantity"] for i in stop["items"]}
    return client.post(f"/d/stops/{stop['id']}/collect", headers={"X-CSRFToken": csrf},
                       json={"idempotency_key": key, "quantities": quantities, "reason": reason})


def _ledger_count(db) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(StockLedgerEntry)).scalar_one()


def test_the_driver_opens_the_route_from_the_link_and_reads_every_stop(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    today = client.get("/d/")
    assert today.status_code == 302 and today.headers["Location"].endswith(f"/d/routes/{day['route']['id']}")
    page = client.get(today.headers["Location"]).get_data(as_text=True)
    assert "标记为已提货" in page and "时间窗" in page
    for stop in _pickup_stops(day["route"]):
        assert html.escape(stop["farm_name"]) in page or html.escape(stop["farm_name"], quote=False) in page
        section = page.split(f'id="stop-{stop["id"]}"')[1].split("</section>")[0]
        assert re.search(r'href="tel:\+86139\d+"', section)
        assert 'href="https://uri.amap.com/marker?position=' in section and 'href="geo:' in section
        for item in stop["items"]:
            assert f'name="q:{item["sku"]}"' in section and f'value="{item["quantity"]}"' in section
    # The farm named like a script is text, never markup.
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_stops_qr_code_opens_the_route_at_that_stop(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    stop = _pickup_stops(day["route"])[0]
    response = client.get(f"/d/stops/{stop['id']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/d/routes/{day['route']['id']}#stop-{stop['id']}")


def test_a_mark_sent_twice_with_its_key_is_applied_once_and_answered_the_same(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    csrf = csrf_of(client.get(f"/d/routes/{day['route']['id']}").get_data(as_text=True))
    stop = _pickup_stops(day["route"])[0]
    before = _ledger_count(db)
    first = _mark(client, stop, csrf, "mark-0001-abcdef")
    assert first.status_code == 200, first.get_json()
    after_first = _ledger_count(db)
    assert after_first > before
    again = _mark(client, stop, csrf, "mark-0001-abcdef")
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert {k: v for k, v in again.get_json().items() if k != "replayed"} == \
        {k: v for k, v in first.get_json().items() if k != "replayed"}
    assert _ledger_count(db) == after_first
    # A new key for the same stop is a second mark: refused, nothing changes.
    other = _mark(client, stop, csrf, "mark-0002-abcdef")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "already_collected"
    assert _ledger_count(db) == after_first


def test_a_shortfall_keeps_the_drivers_reason_and_the_page_shows_it(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    route_url = f"/d/routes/{day['route']['id']}"
    csrf = csrf_of(client.get(route_url).get_data(as_text=True))
    stop = _pickup_stops(day["route"])[0]
    item = stop["items"][0]
    response = _mark(client, stop, csrf, "short-000001", quantities={item["sku"]: item["quantity"] - 2},
                     reason="两袋受潮 <b>wet</b>")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["collected"][item["sku"]] == item["quantity"] - 2
    with db.transaction() as session:
        assert session.execute(select(StopMark.reason)).scalar_one() == "两袋受潮 <b>wet</b>"
        pickup = session.get(Pickup, item["pickup_id"])
        assert pickup.quantity_collected == item["quantity"] - 2
    page = client.get(route_url).get_data(as_text=True)
    assert "两袋受潮 &lt;b&gt;wet&lt;/b&gt;" in page and "✔" in page


def test_a_mark_posted_as_a_plain_form_works_without_script(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    route_url = f"/d/routes/{day['route']['id']}"
    page = client.get(route_url).get_data(as_text=True)
    stop = _pickup_stops(day["route"])[0]
    key = re.search(rf'action="/d/stops/{stop["id"]}/collect".*?name="idempotency_key" value="([^"]+)"', page,
                    re.S).group(1)
    form = {"csrf_token": csrf_of(page), "idempotency_key": key, "reason": "",
            **{f"q:{i['sku']}": str(i["quantity"]) for i in stop["items"]}}
    response = client.post(f"/d/stops/{stop['id']}/collect", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#stop-{stop['id']}")
    assert client.post(f"/d/stops/{stop['id']}/collect", data=form).status_code == 302  # resent: same answer
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(StopMark)).scalar_one() == 1


def test_another_driver_and_a_visitor_are_refused(app, db, tokens, day):
    other = _driver_client(app, db, tokens["other_driver_id"])
    route_url = f"/d/routes/{day['route']['id']}"
    assert other.get(route_url).status_code == 403
    stop = _pickup_stops(day["route"])[0]
    csrf = csrf_of(other.get("/d/").get_data(as_text=True))
    refused = _mark(other, stop, csrf, "someone-else-1")
    assert refused.status_code == 403
    visitor = app.test_client()
    assert visitor.get(route_url).status_code == 302
    before = _ledger_count(db)
    assert _mark(visitor, stop, csrf, "visitor-00001").status_code in (400, 401)
    assert _ledger_count(db) == before


def test_a_mark_without_its_csrf_token_is_refused(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    stop = _pickup_stops(day["route"])[0]
    before = _ledger_count(db)
    response = client.post(f"/d/stops/{stop['id']}/collect",
                           json={"idempotency_key": "no-csrf-0001", "quantities": {}})
    assert response.status_code == 400 and _ledger_count(db) == before


def test_a_quantity_that_is_not_a_number_is_refused_naming_the_field(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    csrf = csrf_of(client.get(f"/d/routes/{day['route']['id']}").get_data(as_text=True))
    stop = _pickup_stops(day["route"])[0]
    sku = stop["items"][0]["sku"]
    response = _mark(client, stop, csrf, "bad-number-01", quantities={sku: "many"})
    assert response.status_code == 422 and f"quantities.{sku}" in response.get_json()["error"]["fields"]


def test_the_route_sheet_opens_from_the_page_session_in_the_pages_language(app, db, tokens, day):
    client = _driver_client(app, db, tokens["driver_id"])
    route_id = day["route"]["id"]
    sheet = client.get(f"/d/routes/{route_id}/sheet.html")
    assert sheet.status_code == 200 and "车辆" in sheet.get_data(as_text=True)
    assert "Vehicle" in client.get(f"/d/routes/{route_id}/sheet.html?lang=en").get_data(as_text=True)
    pdf = client.get(f"/d/routes/{route_id}/sheet.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    other = _driver_client(app, db, tokens["other_driver_id"])
    assert other.get(f"/d/routes/{route_id}/sheet.pdf").status_code == 403


def test_units_rejected_at_the_farm_gate_are_marked_with_their_reason(app, db, tokens, day):
    from supply.db.farmside import FarmGateRecord

    client = _driver_client(app, db, tokens["driver_id"])
    csrf = csrf_of(client.get(f"/d/routes/{day['route']['id']}").get_data(as_text=True))
    stop = _pickup_stops(day["route"])[0]
    item = stop["items"][0]
    body = {"idempotency_key": "reject-00001", "quantities": {item["sku"]: item["quantity"] - 3},
            "rejects": {item["sku"]: {"quantity": 3, "reason": "damaged"}}}
    bad = client.post(f"/d/stops/{stop['id']}/collect", headers={"X-CSRFToken": csrf},
                      json={**body, "rejects": {item["sku"]: {"quantity": 3, "reason": "too ugly"}}})
    assert bad.status_code == 422 and f"rejects.{item['sku']}.reason" in bad.get_json()["error"]["fields"]
    first = client.post(f"/d/stops/{stop['id']}/collect", headers={"X-CSRFToken": csrf}, json=body)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["rejected"] == {item["sku"]: 3}
    again = client.post(f"/d/stops/{stop['id']}/collect", headers={"X-CSRFToken": csrf}, json=body)
    assert again.get_json()["replayed"] is True and again.get_json()["rejected"] == {item["sku"]: 3}
    with db.transaction() as session:
        rejected = [r for r in session.query(FarmGateRecord) if getattr(r, "reason", None) == "damaged"]
        assert sum(r.quantity for r in rejected) == 3


def test_the_page_takes_a_position_as_the_api_does_and_refuses_what_the_api_refuses(app, db, tokens, day):
    from supply.db.models import VehiclePosition

    def count():
        with db.transaction() as session:
            return session.execute(select(func.count()).select_from(VehiclePosition)).scalar_one()

    client = _driver_client(app, db, tokens["driver_id"])
    url = f"/d/routes/{day['route']['id']}/position"
    page = client.get(f"/d/routes/{day['route']['id']}").get_data(as_text=True)
    assert f'action="{url}"' in page and "报告我的位置" in page
    csrf = csrf_of(page)
    assert client.post(url, json={"lat": 42.53, "lon": 1.58}).status_code == 400  # no CSRF token
    for body, field in (({"lat": 200, "lon": 1.58}, "lat"), ({"lat": 42.53}, "lon"), ([42.53, 1.58], "body"),
                        ({"lat": 42.53, "lon": 1.58, "reported_at": "2026-12-01T09:00:00+08:00"}, "reported_at")):
        refused = client.post(url, headers={"X-CSRFToken": csrf}, json=body)
        assert refused.status_code == 422 and field in refused.get_json()["error"]["fields"], (body, refused.get_json())
    other = _driver_client(app, db, tokens["other_driver_id"])
    other_csrf = csrf_of(other.get("/d/").get_data(as_text=True))
    assert other.post(url, headers={"X-CSRFToken": other_csrf}, json={"lat": 42.53, "lon": 1.58}).status_code == 403
    assert count() == 0
    body = {"lat": 42.53, "lon": 1.58, "accuracy_m": 30, "reported_at": "2026-11-30T09:00:00+08:00"}
    sent = client.post(url, headers={"X-CSRFToken": csrf}, json=body)
    assert sent.status_code == 200 and sent.get_json()["replayed"] is False, sent.get_json()
    again = client.post(url, headers={"X-CSRFToken": csrf}, json=body)
    assert again.get_json()["replayed"] is True and count() == 1

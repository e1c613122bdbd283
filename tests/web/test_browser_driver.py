"""The driver's phone in a real browser (Chromium, phone viewport): the QR link opens the route, the
phone goes offline, two stops are marked, it comes back online, and stock, pickups and the ledger
change exactly once. A signed-out visitor and another driver are refused."""
from __future__ import annotations

from sqlalchemy import func, select

from supply.db.models import Pickup, ProductBalance, StockLedgerEntry, StopMark
from supply.services.web import create_link
from tests.web.browser import PHONE


def _figures(db) -> dict:
    with db.transaction() as session:
        return {
            "ledger": session.execute(select(func.count()).select_from(StockLedgerEntry)).scalar_one(),
            "marks": session.execute(select(func.count()).select_from(StopMark)).scalar_one(),
            "collected": dict(session.execute(select(Pickup.id, Pickup.quantity_collected)).all()),
            "reserved": session.execute(select(func.sum(ProductBalance.reserved))).scalar_one(),
        }


def _link(db, driver_id) -> str:
    with db.transaction() as session:
        return create_link(session, 1, role="driver", driver_id=driver_id)["token"]


def test_marks_made_offline_are_sent_once_back_online(app, db, tokens, day, served, browser):
    stops = [s for s in day["route"]["stops"] if s["kind"] == "pickup"][:2]
    assert len(stops) == 2
    context = browser.new_context(**PHONE)
    page = context.new_page()
    refused_by_policy = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused_by_policy.append(m.text))
    page.goto(f"{served}/s/{_link(db, tokens['driver_id'])}")
    assert page.url.endswith(f"/d/routes/{day['route']['id']}")
    assert page.locator("h1").inner_text().startswith("路线")
    page.locator("html[data-offline-ready='1']").wait_for(state="attached", timeout=15000)
    before = _figures(db)

    context.set_offline(True)
    heard = len(served.requests)
    page.reload()  # the route comes from the service worker's copy
    assert page.locator(f"#stop-{stops[0]['id']} h2").inner_text() == stops[0]["farm_name"]
    for stop in stops:
        form = page.locator(f"form.mark[data-stop-id='{stop['id']}']")
        form.locator("button[type=submit]").click()
        form.locator(".state.queued").wait_for(timeout=5000)
    assert page.locator("#net").is_visible()
    assert _figures(db) == before and served.requests[heard:] == []  # nothing reached the server

    context.set_offline(False)
    for stop in stops:
        page.locator(f"form.mark[data-stop-id='{stop['id']}'] .state.done").wait_for(timeout=15000)
    after = _figures(db)
    assert after["marks"] == before["marks"] + 2
    assert after["ledger"] > before["ledger"]
    planned = {i["pickup_id"]: 0 for s in stops for i in s["items"]}
    for s in stops:
        for i in s["items"]:
            planned[i["pickup_id"]] += i["quantity"]
    for pickup_id, quantity in planned.items():
        assert after["collected"][pickup_id] == before["collected"][pickup_id] + quantity
    assert after["reserved"] == before["reserved"] - sum(planned.values())

    # The phone lost the answers and sends the same marks again: the same answers, nothing changes.
    queue = [{"url": f"{served}/d/stops/{s['id']}/collect", "stop": str(s["id"]),
              "key": key} for s, key in zip(stops, _keys(db))]
    answers = page.evaluate("""async (queue) => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const out = [];
        for (const m of queue) {
            const r = await fetch(m.url, {method: "POST", headers: {"Content-Type": "application/json",
                "X-CSRFToken": csrf}, body: JSON.stringify({idempotency_key: m.key, quantities: {}})});
            out.push([r.status, (await r.json()).replayed]);
        }
        return out;
    }""", queue)
    assert answers == [[200, True], [200, True]]
    assert _figures(db) == after
    page.reload()
    assert page.locator(f"#stop-{stops[0]['id']} .state.done").count() == 1
    assert refused_by_policy == []  # the page's own scripts and styles pass its security policy
    assert page.evaluate("() => caches.has('coop-driver-v1')") is True
    page.locator("form.signout button").click()
    page.wait_for_url("**/signin")
    assert page.evaluate("() => caches.has('coop-driver-v1')") is False  # no copy of the route stays
    context.close()


def _keys(db) -> list[str]:
    with db.transaction() as session:
        return [k for (k,) in session.execute(select(StopMark.idempotency_key).order_by(StopMark.id))]


def test_a_signed_out_visitor_and_another_driver_are_refused(db, tokens, day, served, browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    route_url = f"{served}/d/routes/{day['route']['id']}"
    page.goto(route_url)
    assert "/signin" in page.url and page.locator("h1").inner_text() == "登录"
    page.goto(f"{served}/s/{_link(db, tokens['other_driver_id'])}")
    response = page.goto(route_url)
    assert response.status == 403
    assert "无权" in page.locator(".error").inner_text()
    assert page.locator("form.mark").count() == 0
    context.close()


def test_a_mark_queued_when_the_session_ended_is_sent_after_signing_in_again(db, tokens, day, served, browser):
    from supply.services.web import revoke_link

    stop = next(s for s in day["route"]["stops"] if s["kind"] == "pickup")
    with db.transaction() as session:
        first = create_link(session, 1, role="driver", driver_id=tokens["driver_id"])
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{served}/s/{first['token']}")
    page.locator("html[data-offline-ready='1']").wait_for(state="attached", timeout=15000)
    context.set_offline(True)
    page.locator(f"form.mark[data-stop-id='{stop['id']}'] button[type=submit]").click()
    with db.transaction() as session:
        revoke_link(session, 1, first["id"])  # the manager revokes the link: the session ends
    before = _figures(db)
    context.set_offline(False)
    page.wait_for_timeout(1500)
    assert _figures(db) == before  # refused for the session, still queued on the phone
    assert page.locator(f"form.mark[data-stop-id='{stop['id']}'] .state.queued").count() == 1
    page.goto(f"{served}/s/{_link(db, tokens['driver_id'])}")  # a new link from the manager
    page.locator(f"form.mark[data-stop-id='{stop['id']}'] .state.done").wait_for(timeout=15000)
    assert _figures(db)["marks"] == before["marks"] + 1
    context.close()


def test_the_driver_reports_where_the_truck_is_from_the_phone(app, db, tokens, client, served, browser):
    """The page asks the phone for its position (granted, here a point near a farm of the day) and
    sends it: the vehicle's report is stored for today's route, with its accuracy."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from supply.db.models import VehiclePosition
    from tests.web.conftest import build_day

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()  # reports are for today's route
    route = build_day(client, tokens, on=today)["route"]
    context = browser.new_context(**PHONE, geolocation={"latitude": 42.5345, "longitude": 1.5800, "accuracy": 25},
                                  permissions=["geolocation"])
    page = context.new_page()
    page.goto(f"{served}/s/{_link(db, tokens['driver_id'])}")
    assert page.url.endswith(f"/d/routes/{route['id']}")
    form = page.locator("form.position")
    assert form.locator("button").inner_text() == "报告我的位置"
    form.locator("button").click()
    form.locator(".state.done").wait_for(timeout=15000)
    assert form.locator(".state.done").inner_text().startswith("✔ 位置已发送于")
    with db.transaction() as session:
        rows = session.execute(select(VehiclePosition)).scalars().all()
        assert [(r.route_id, r.vehicle_id, r.lat, r.lon, r.accuracy_m, r.actor) for r in rows] == [
            (route["id"], route["vehicle_id"], 42.5345, 1.58, 25.0, f"driver:{tokens['driver_id']}")]
    context.close()

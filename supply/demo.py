"""`coop demo`: the main job, end to end, on the embedded default.

A county (the bundled OpenStreetMap extract), a cooperative of member farms at its villages and
along its roads, a hub in the main town, a fleet of trucks and vans (one refrigerated); a livestream
spike of orders pushed through the real HTTP stack (the service on a loopback port); allocation,
confirmation with a shortfall, planning, publishing; route sheets (HTML, PDF, map) and summary.json.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import requests

from config import Settings

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
PRODUCTS = [
    # sku, name, unit, kg, litres, cold chain, shelf life days, stock per farm (range), share of orders
    ("NOODLE-500", "苦荞挂面 500 g", "bag", 0.5, 0.8, False, 365, (80, 200), 0.55),
    ("HONEY-1", "土蜂蜜 1 kg", "jar", 1.3, 1.0, False, 720, (10, 50), 0.15),
    ("WALNUT-1", "核桃 1 kg", "bag", 1.0, 2.5, False, 180, (20, 70), 0.15),
    ("APPLE-5", "红富士苹果 5 kg", "box", 5.4, 12.0, False, 30, (10, 40), 0.10),
    ("YOGURT-1", "牦牛酸奶 1 kg", "tub", 1.1, 1.2, True, 10, (40, 120), 0.05),
]
FLEET = [
    # name, plate, kg, litres, refrigerated, cost per km, cost per use, count
    ("东风 truck", "新F-T{:02d}", 3000, 16000, False, 3.0, 150, 10),
    ("五菱 van", "新F-V{:02d}", 800, 4000, False, 1.8, 60, 9),
    ("冷藏 van", "新F-C{:02d}", 600, 3000, True, 2.5, 120, 1),
]
BATCH = 1000


def run_demo(*, out_dir: str, n_orders: int, seed: int, n_farms: int = 300, database_url: str | None = None,
             redis_url: str | None = None, time_limit_s: float = 15.0, on: date | None = None,
             sheets: bool = True) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    started = time.monotonic()
    say = _Progress(started)
    database_url = database_url or f"sqlite:///{(out / 'coop-demo.sqlite3').resolve()}"
    if database_url.startswith("sqlite:///"):
        db_file = Path(database_url[len("sqlite:///"):])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    secret = hashlib.sha256(f"demo-{seed}".encode()).hexdigest()
    # Douyin's and Kuaishou's open APIs stood in for locally, for the share of the spike they push
    # (inline jobs only: rq workers in other processes would not know the stand-ins' addresses).
    from supply.demo_platforms import DemoPlatforms

    platforms = None if redis_url else DemoPlatforms()
    settings = Settings.from_env(database_url=database_url, redis_url=redis_url, log_level="WARNING", access_log=False,
                                 **(platforms.settings({"douyin-live": secret}) if platforms
                                    else {"platform_secrets": {"douyin-live": secret}}))

    import migrations
    from supply.app import create_app
    from supply.roads import load_county_network
    from supply.services.auth import create_token
    from supply.wiring import build_services

    say("migrating the database")
    migrations.upgrade(settings.database_url)
    services = build_services(settings)
    say("loading the county road network")
    network = services.network
    load_county_network(settings.road_network)
    with services.db.transaction() as session:
        token = create_token(session, role="manager", label="coop demo")
    app = create_app(settings, services=services)
    server = _serve(app)
    base = f"http://127.0.0.1:{server.server_port}/api/v1"
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    try:
        tz = ZoneInfo("Asia/Shanghai")
        on = on or (datetime.now(tz).date() + timedelta(days=1))
        county = _seed(http, base, network, rng, n_farms, say)
        if platforms:
            platforms.link(http, base, [p[0] for p in PRODUCTS])
        stream = _stream(http, base, n_orders, say)
        sent, reserved, rejected, refused_reasons = _spike(http, base, rng, n_orders, secret, say, platforms,
                                                           stream_id=stream["id"])
        last_order_at = time.monotonic()
        stream = _stream_figures(http, base, stream)
        say(f"spike done: {reserved} orders reserved, {rejected} refused")
        job = _job(http, base, http.post(f"{base}/allocations", json={"date": on.isoformat()}))
        say(f"allocated: {job['result']['pickups_touched']} farm pickups")
        shortfalls = _confirm(http, base, on, rng, say)
        job = _job(http, base, http.post(f"{base}/dispatch-plans", json={
            "hub_id": county["hub"]["id"], "date": on.isoformat(), "time_limit_s": time_limit_s}))
        plan_id = job["result"]["plan_id"]
        plan = _ok(http.post(f"{base}/dispatch-plans/{plan_id}/publish"))
        published_at = time.monotonic()
        say(f"plan {plan_id} v{plan['version']} published: {len(plan['routes'])} routes, "
            f"{len(plan['unplanned'])} pickups unplanned ({plan['engine']}), "
            f"{published_at - last_order_at:.1f} s after the last order")
        routes = _sheets(http, base, plan, out, services, say) if sheets else []
        pickups = _ok(http.get(f"{base}/pickups", params={"date": on.isoformat(), "limit": 10000}))
        planned_ids = {i["pickup_id"] for r in plan["routes"] for s in r["stops"] for i in s["items"]}
        from supply.demo_farmside import run_farm_side

        farm_side = run_farm_side(http, base, on, plan, out, rng, say)  # notices, collection, statements
        summary = {
            "date": on.isoformat(),
            "county": "Andorra (OpenStreetMap extract) standing in for a mountain county",
            "attribution": network.attribution,
            "farms": len(county["farms"]), "vehicles": len(county["vehicles"]),
            "orders_sent": sent, "orders_reserved": reserved, "orders_rejected": rejected,
            "rejection_reasons": refused_reasons,
            "platform_pushes": platforms.summary if platforms else None,
            "stream": stream,
            "pickups": len(pickups),
            "pickups_ready": sum(1 for p in pickups if p["status"] in ("confirmed", "short") and p["quantity_ready"]),
            "pickup_shortfalls": shortfalls,
            "planned_pickups": len(planned_ids),
            "unplanned_pickups": plan["unplanned"],
            "plan": {"id": plan["id"], "version": plan["version"], "engine": plan["engine"],
                     "routes": len(plan["routes"]),
                     "distance_km": round(plan["distance_m"] / 1000, 1),
                     "duration_h": round(plan["duration_s"] / 3600, 1)},
            "routes": routes,
            "farm_side": farm_side,
            "seconds": round(time.monotonic() - started, 1),
            "seconds_from_last_order_to_published_plan": round(published_at - last_order_at, 1),
            "solver_time_limit_s": time_limit_s,
        }
        (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        say(f"wrote {out / 'summary.json'} and {len(routes)} route sheets")
        click.echo(f"orders sent {sent}, reserved {reserved}, refused {rejected}; pickups {len(pickups)}, "
                   f"planned {len(planned_ids)}, unplanned {len(plan['unplanned'])}; route sheets {len(routes)}; "
                   f"farms notified {farm_side['farms_notified']}, units rejected {farm_side['units_rejected']}, "
                   f"amount due {farm_side['amount_due_yuan']} yuan")
        return 0
    finally:
        server.shutdown()
        services.close()
        if platforms:
            platforms.stop()


class _Progress:
    def __init__(self, started: float):
        self.started = started

    def __call__(self, message: str) -> None:
        click.echo(f"[{time.monotonic() - self.started:6.1f}s] {message}", err=True)


def _serve(app):
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _ok(response: requests.Response, status: tuple[int, ...] = (200, 201, 202)):
    if response.status_code not in status:
        raise click.ClickException(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
    return response.json()


def _job(http, base, response) -> dict:
    job = _ok(response)
    while job["status"] in ("queued", "running"):
        time.sleep(0.5)
        job = _ok(http.get(f"{base}/jobs/{job['id']}"))
    if job["status"] != "finished":
        raise click.ClickException(f"job {job['id']} {job['status']}: {job.get('error')}")
    return job


def _seed(http, base, network, rng: random.Random, n_farms: int, say) -> dict:
    towns = [p for p in network.places if p.kind == "town"]
    hub_place = next((p for p in towns if "Andorra la Vella" in p.name), towns[0] if towns else network.places[0])
    hub = _ok(http.post(f"{base}/hubs", json={"name": f"{hub_place.name} 县物流中心", "lat": hub_place.lat,
                                              "lon": hub_place.lon, "opens_at": "06:00", "cutoff_at": "18:30"}))
    vehicles = []
    for name, plate, kg, litres, cold, per_km, per_use, count in FLEET:
        for i in range(count):
            driver = _ok(http.post(f"{base}/drivers", json={"name": f"{rng.choice(SURNAMES)}师傅 {len(vehicles) + 1}",
                                                            "phone": f"+86 139 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"}))
            vehicles.append(_ok(http.post(f"{base}/vehicles", json={
                "hub_id": hub["id"], "name": f"{name} {i + 1}", "plate": plate.format(i + 1), "capacity_kg": kg,
                "capacity_l": litres, "refrigerated": cold, "shift_start": "06:00", "shift_end": "18:30",
                "cost_per_km": per_km, "cost_per_use": per_use, "driver_id": driver["id"]})))
    for sku, name, unit, kg, litres, cold, shelf, _, _ in PRODUCTS:
        _ok(http.post(f"{base}/products", json={"sku": sku, "name": name, "unit": unit, "unit_weight_kg": kg,
                                                "unit_volume_l": litres, "cold_chain": cold,
                                                "shelf_life_days": shelf}))
    points = _farm_points(network, rng, n_farms)
    farms = []
    for i, (village, lon, lat) in enumerate(points):
        window = rng.choice([("07:00", "17:00")] * 6 + [("08:00", "12:00"), ("13:00", "17:00")])
        farm = _ok(http.post(f"{base}/farms", json={
            "name": f"{rng.choice(SURNAMES)}家 {village} #{i + 1}", "lat": lat, "lon": lon,
            "phone": f"+86 138 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            "window_start": window[0], "window_end": window[1]}))
        farms.append(farm)
        for sku, _, _, _, _, cold, _, (low, high), _ in PRODUCTS:
            if (cold and i % 10) or rng.random() < 0.3:
                continue  # not every farm makes everything; few keep cows for yoghurt
            quantity = rng.randint(low, high)
            for kind in ("declared", "confirmed"):
                _ok(http.post(f"{base}/stock/adjustments", json={
                    "farm_id": farm["id"], "sku": sku, "delta": quantity, "kind": kind,
                    "reason": "declared by the farm" if kind == "declared" else "checked by the cooperative"}))
        if (i + 1) % 50 == 0:
            say(f"registered {i + 1} farms with their stock")
    return {"hub": hub, "vehicles": vehicles, "farms": farms}


def _farm_points(network, rng: random.Random, n: int) -> list[tuple[str, float, float]]:
    """Farms at villages and hamlets, and along the roads near them."""
    places = [p for p in network.places if p.kind in ("village", "hamlet", "town")]
    points = [(p.name, p.lon, p.lat) for p in places]
    while len(points) < n:
        place = rng.choice(places)
        node = rng.randrange(network.n_nodes)
        lon, lat = float(network.node_lon[node]), float(network.node_lat[node])
        if abs(lon - place.lon) < 0.03 and abs(lat - place.lat) < 0.03:
            points.append((place.name, lon + rng.uniform(-2e-4, 2e-4), lat + rng.uniform(-2e-4, 2e-4)))
    return points[:n]


STREAM_SKU = "NOODLE-500"


def _stream(http, base, n_orders: int, say) -> dict:
    """The host's stream, with a hold of noodles set aside for it before it starts selling."""
    stream = _ok(http.post(f"{base}/streams", json={
        "platform": "douyin-live", "host": "县长直播间", "title": "苦荞挂面 助农专场",
        "starts_at": datetime.now(timezone.utc).isoformat()}), (201,))
    hold = max(1, n_orders // 50)
    _ok(http.post(f"{base}/streams/{stream['id']}/holds", json={"sku": STREAM_SKU, "quantity": hold}), (201,))
    say(f"stream {stream['id']}: {hold} of {STREAM_SKU} held for it")
    return {"id": stream["id"], "held": hold}


def _stream_figures(http, base, stream: dict) -> dict:
    """What the host's page shows once the spike is in: held for her stream, and still left of it."""
    figures = _ok(http.get(f"{base}/products/{STREAM_SKU}/availability", params={"stream_id": stream["id"]}))
    hold = next((h for h in figures["holds"] if h["stream_id"] == stream["id"]), None)
    return {"id": stream["id"], "sku": STREAM_SKU, "held": hold["quantity"] if hold else stream["held"],
            "left_in_hold": hold["remaining"] if hold else 0}


def _spike(http, base, rng: random.Random, n_orders: int, secret: str, say, platforms=None, stream_id=None):
    """The livestream: a burst of orders, most through the batch endpoint, a share as signed webhooks
    (each pushed twice, as platforms retry), and (with `platforms`) a share of one-line orders as
    Douyin's and Kuaishou's own pushes, whose lines come from the platforms' order-detail APIs. The
    first batched orders name the host's stream, so they draw on its hold first."""
    skus = [p[0] for p in PRODUCTS]
    weights = [p[8] for p in PRODUCTS]
    orders = []
    for n in range(n_orders):
        lines = {}
        for _ in range(1 if rng.random() < 0.8 else 2):
            sku = rng.choices(skus, weights)[0]
            lines[sku] = lines.get(sku, 0) + rng.choice((1, 1, 1, 2, 3))
        orders.append({"platform": "douyin-live", "external_id": f"DY{20261123000000 + n}",
                       "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]})
    webhook_share = orders[: n_orders // 10]
    batched = orders[n_orders // 10:]
    if stream_id is not None:
        for o in batched[-(n_orders // 20):]:
            o["stream_id"] = stream_id
    platform_share = [o for o in batched[: n_orders // 10] if len(o["lines"]) == 1] if platforms else []
    batched = [o for o in batched if o not in platform_share] if platform_share else batched
    results: list[dict] = []

    def push_batch(chunk):
        return _ok(http.post(f"{base}/orders/batch", json={"orders": chunk}), (200,))["results"]

    def push_webhook(chunk):
        raw = json.dumps({"events": [{"type": "order.paid", "order": o} for o in chunk]}, ensure_ascii=False).encode()
        sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"X-Signature": f"sha256={sig}", "Content-Type": "application/json"}
        first = _ok(requests.post(f"{base}/webhooks/douyin-live", data=raw, headers=headers), (200,))["results"]
        requests.post(f"{base}/webhooks/douyin-live", data=raw, headers=headers)  # the platform's retry
        return [{"status": 201 if r["status"] == "applied" else 409, "error": r.get("error")} for r in first]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(push_webhook, webhook_share[i:i + 200]) for i in range(0, len(webhook_share), 200)]
        futures += [pool.submit(push_batch, batched[i:i + BATCH]) for i in range(0, len(batched), BATCH)]
        if platform_share:
            futures.append(pool.submit(platforms.push, http, base, platform_share))
        for k, future in enumerate(futures, start=1):
            results.extend(future.result())
            if k % 10 == 0:
                say(f"pushed {len(results)} of {n_orders} orders")
    elapsed = time.monotonic() - started
    say(f"{n_orders} orders in {elapsed:.1f} s ({n_orders / elapsed:.0f} orders/s)")
    reserved = sum(1 for r in results if r["status"] in (200, 201))
    reasons: dict[str, int] = {}
    for r in results:
        if r["status"] not in (200, 201):
            code = (r.get("error") or {}).get("code", "unknown")
            reasons[code] = reasons.get(code, 0) + 1
    return n_orders, reserved, n_orders - reserved, reasons


def _confirm(http, base, on: date, rng: random.Random, say) -> list[dict]:
    """Managers confirm what each farm has ready; a few farms come up short."""
    pickups = _ok(http.get(f"{base}/pickups", params={"date": on.isoformat(), "status": "proposed", "limit": 10000}))
    shortfalls = []
    short_ids = {p["id"] for p in rng.sample(pickups, k=min(3, len(pickups)))}
    while pickups:
        # The short ones last: their re-allocation raises other farms' pickups, confirmed next round.
        for p in sorted(pickups, key=lambda p: p["id"] in short_ids):
            ready = p["quantity"] - max(1, p["quantity"] // 5) if p["id"] in short_ids else p["quantity"]
            result = _ok(http.post(f"{base}/pickups/{p['id']}/confirm", json={"quantity_ready": ready}))
            if result["shortfall"]:
                shortfalls.append({"pickup_id": p["id"], "farm": p["farm_name"], "sku": p["sku"],
                                   "shortfall": result["shortfall"],
                                   "reallocated": (result["reallocated"] or {}).get("allocated", 0),
                                   "backordered": sum(b["quantity"] for b in result["backordered"])})
        # Re-allocation may have proposed more at other farms: confirm those too.
        pickups = _ok(http.get(f"{base}/pickups", params={"date": on.isoformat(), "status": "proposed",
                                                          "limit": 10000}))
        short_ids = set()
    say(f"pickups confirmed; {len(shortfalls)} shortfalls re-allocated or backordered")
    return shortfalls


def _sheets(http, base, plan: dict, out: Path, services, say) -> list[dict]:
    from supply.services.plans import get_route_for
    from supply.services.auth import Principal
    from supply.services.sheets import build_route_sheet
    from supply.sheets import render_map_png, render_map_svg

    folder = out / "routes"
    folder.mkdir(exist_ok=True)
    manager = Principal(role="manager", cooperative_id=1)
    routes = []
    for route in plan["routes"]:
        stem = folder / f"route-{route['id']}"
        html = http.get(f"{base}/routes/{route['id']}/sheet.html")
        pdf = http.get(f"{base}/routes/{route['id']}/sheet.pdf")
        if html.status_code != 200 or pdf.status_code != 200:
            raise click.ClickException(f"route {route['id']}: sheet {html.status_code}/{pdf.status_code}")
        Path(f"{stem}.html").write_text(html.text, encoding="utf-8")
        Path(f"{stem}.pdf").write_bytes(pdf.content)
        with services.db.transaction() as session:
            sheet = build_route_sheet(session, services.network, get_route_for(session, manager, route["id"]))
        Path(f"{stem}-map.svg").write_text(render_map_svg(sheet), encoding="utf-8")
        Path(f"{stem}-map.png").write_bytes(render_map_png(sheet))
        pickups = [s for s in route["stops"] if s["kind"] == "pickup"]
        routes.append({
            "id": route["id"], "vehicle": route["vehicle_name"], "driver_id": route["driver_id"],
            "stops": len(pickups), "trips": route["trips"], "departure_at": route["departure_at"],
            "return_at": route["return_at"], "distance_km": round(route["distance_m"] / 1000, 1),
            "duration_h": round(route["duration_s"] / 3600, 2),
            "weight_kg": round(sum(i["weight_kg"] for s in pickups for i in s["items"]), 1),
            "sheet_html": str(Path(f"{stem}.html").relative_to(out)), "sheet_pdf": str(Path(f"{stem}.pdf").relative_to(out)),
            "map_svg": str(Path(f"{stem}-map.svg").relative_to(out)), "map_png": str(Path(f"{stem}-map.png").relative_to(out)),
        })
    say(f"{len(routes)} route sheets written to {folder}")
    return routes

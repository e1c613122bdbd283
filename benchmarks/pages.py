"""The pages, measured in Chromium: what the driver's page weighs with its route, and how far the host's
page lags behind the database while orders arrive.

Starts `coop serve` on its own database (a fresh PostgreSQL database, created and dropped here, unless
--database-url names one; a temporary SQLite file with --smoke), builds a published day through the API
(farms near the test county's villages, one truck, orders allocated, confirmed, planned, published),
then:

  1. opens the driver's sign-in link at a phone's size and sums every byte the page and its assets
     took over the wire (bodies and headers, as Chromium received them), with the route's stop count;
  2. opens the host's stream page at a phone's size and, while orders for the stream are pushed through
     the batch endpoint at --rate orders a second for --seconds, records when the page's "sold" figure
     changed; each acknowledged batch's lag is the time until the page first showed at least the
     total acknowledged by then (an upper bound: batches acknowledged later may already be in it).

    python benchmarks/pages.py                  # 30 stops; 1,000 orders/s for 20 s; fresh PostgreSQL
    python benchmarks/pages.py --smoke          # a few seconds on a temporary SQLite file
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1/postgres"
DAY = "2026-11-30"
VILLAGES = [(42.5562, 1.5331), (42.5676, 1.5976), (42.5345, 1.5800), (42.5450, 1.5148), (42.4637, 1.4913),
            (42.5100, 1.5386), (42.5766, 1.6675), (42.5724, 1.4843)]
BATCH = 100


def create_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"coop_pages_{uuid.uuid4().hex[:8]}"
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
    engine.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, COOP_LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)  # jobs inline: the benchmark needs no worker
    proc = subprocess.Popen([sys.executable, "-m", "supply.cli", "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", str(workers)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 60 s")


def seed(database_url: str, base: str, farms: int, stock: int) -> dict:
    """Tokens, links and a published day; the ids the measurements need."""
    from supply.db.session import Database
    from supply.services.auth import create_driver, create_token
    from supply.services.web import create_link

    db = Database(database_url)
    with db.transaction() as session:
        driver = create_driver(session, 1, name="马师傅", phone="+86 138 0000 0001")
        manager = create_token(session, role="manager")
        driver_link = create_link(session, 1, role="driver", driver_id=driver["id"])["token"]
        host_link = create_link(session, 1, role="host")["token"]
    db.dispose()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {manager}"

    def post(path: str, body: dict, status: int = 201) -> dict:
        response = http.post(base + path, json=body, timeout=120)
        if response.status_code not in (status, 202):
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def wait(job: dict) -> dict:
        while job["status"] not in ("finished", "failed"):
            time.sleep(0.2)
            job = http.get(f"{base}/api/v1/jobs/{job['id']}", timeout=30).json()
        if job["status"] != "finished":
            raise SystemExit(f"job failed: {job}")
        return job

    hub = post("/api/v1/hubs", {"name": "县城集散中心", "lat": 42.5078, "lon": 1.5211, "opens_at": "06:00",
                                "cutoff_at": "20:00"})
    post("/api/v1/vehicles", {"hub_id": hub["id"], "name": "东风 truck", "capacity_kg": 5000, "capacity_l": 20000,
                              "shift_start": "06:00", "shift_end": "20:00", "driver_id": driver["id"]})
    post("/api/v1/products", {"sku": "NOODLE-500", "name": "苦荞挂面 500 g", "unit": "袋", "unit_weight_kg": 0.5,
                              "unit_volume_l": 0.8})
    post("/api/v1/products", {"sku": "HONEY-1", "name": "土蜂蜜 1 kg", "unit": "瓶", "unit_weight_kg": 1.2,
                              "unit_volume_l": 1.0})
    rng = random.Random(7)
    for i in range(farms):
        lat, lon = VILLAGES[i % len(VILLAGES)]
        farm = post("/api/v1/farms", {"name": f"农户 {i:02d} 号", "lat": lat + rng.uniform(-0.002, 0.002),
                                      "lon": lon + rng.uniform(-0.002, 0.002), "phone": f"+86 139 0000 {1000 + i}",
                                      "window_start": "07:00", "window_end": "18:00"})
        for kind in ("declared", "confirmed"):
            post("/api/v1/stock/adjustments", {"farm_id": farm["id"], "sku": "NOODLE-500", "delta": 10,
                                               "kind": kind, "reason": "counted"})
            post("/api/v1/stock/adjustments", {"farm_id": farm["id"], "sku": "HONEY-1", "delta": stock,
                                               "kind": kind, "reason": "counted"})
    for i in range(farms):
        post("/api/v1/orders", {"platform": "douyin", "external_id": f"day-{i}",
                                "lines": [{"sku": "NOODLE-500", "quantity": 10}]})
    wait(post("/api/v1/allocations", {"date": DAY}))
    for p in http.get(f"{base}/api/v1/pickups?date={DAY}", timeout=30).json():
        post(f"/api/v1/pickups/{p['id']}/confirm", {"quantity_ready": p["quantity"]}, 200)
    job = wait(post("/api/v1/dispatch-plans", {"hub_id": hub["id"], "date": DAY, "time_limit_s": 5}))
    plan_id = job["result"]["plan_id"]
    plan = post(f"/api/v1/dispatch-plans/{plan_id}/publish", {}, 200)
    route = next(r for r in plan["routes"] if r["driver_id"] == driver["id"])
    stream = post("/api/v1/streams", {"platform": "douyin", "host": "小芳", "title": "蜂蜜专场",
                                      "starts_at": "2026-11-29T19:00:00+08:00"})
    return {"manager": manager, "driver_link": driver_link, "host_link": host_link, "route": route,
            "stream_id": stream["id"]}


def launch(playwright):
    from tests.web.browser import ARGS, CHROMIUM

    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def driver_weight(browser, base: str, ids: dict) -> dict:
    from tests.web.browser import PHONE

    context = browser.new_context(**PHONE)
    page = context.new_page()
    sizes: list[tuple[str, int]] = []

    def count(response):
        request = response.request
        try:
            body = len(response.body())
        except Exception:  # a redirect has no body
            body = 0
        headers = sum(len(k) + len(v) + 4 for k, v in response.headers_array()) if hasattr(response, "headers_array") \
            else sum(len(k) + len(v) + 4 for k, v in response.headers.items())
        sizes.append((request.url.replace(base, ""), body + headers))

    page.on("response", count)
    page.goto(f"{base}/s/{ids['driver_link']}")
    page.locator("html[data-offline-ready='1']").wait_for(state="attached", timeout=30000)
    page.wait_for_load_state("networkidle")
    context.close()
    stops = sum(1 for s in ids["route"]["stops"] if s["kind"] == "pickup")
    return {"bytes": sum(b for _, b in sizes), "stops": stops, "requests": len(sizes),
            "largest": sorted(sizes, key=lambda s: -s[1])[:4]}


def host_lag(browser, base: str, ids: dict, rate: int, seconds: float) -> dict:
    from tests.web.browser import PHONE

    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{base}/s/{ids['host_link']}")
    page.goto(f"{base}/h/streams/{ids['stream_id']}")
    page.evaluate("""() => {
        window.__seen = [];
        const cell = document.querySelector('tr[data-sku="HONEY-1"] .sold');
        new MutationObserver(() => window.__seen.push([Date.now() / 1000,
            parseInt(cell.textContent.replace(/[^0-9]/g, ''), 10)])).observe(cell, {childList: true,
            characterData: true, subtree: true});
    }""")
    acks: list[tuple[float, int]] = []
    lock = threading.Lock()
    total = [0]
    headers = {"Authorization": f"Bearer {ids['manager']}"}
    session = requests.Session()

    def push(n: int) -> None:
        orders = [{"platform": "bench", "external_id": f"lag-{n}-{k}", "stream_id": ids["stream_id"],
                   "lines": [{"sku": "HONEY-1", "quantity": 1}]} for k in range(BATCH)]
        response = session.post(f"{base}/api/v1/orders/batch", json={"orders": orders}, headers=headers, timeout=60)
        created = sum(1 for r in response.json()["results"] if r["status"] == 201)
        with lock:
            total[0] += created
            acks.append((time.time(), total[0]))

    interval = BATCH / rate
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        n = 0
        while time.monotonic() - started < seconds:
            pool.submit(push, n)
            n += 1
            time.sleep(max(0.0, started + n * interval - time.monotonic()))
    sent_s = time.monotonic() - started
    time.sleep(3)
    seen = page.evaluate("window.__seen")
    context.close()
    lags = []
    for at, level in acks:
        shown = next((t for t, value in seen if value >= level and t >= at - 0.001), None)
        lags.append((shown - at) if shown is not None else float("inf"))
    lags.sort()
    return {"orders": total[0], "achieved_rate": total[0] / sent_s, "batches": len(acks),
            "p50": lags[len(lags) // 2], "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))], "max": lags[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--farms", type=int, default=None, help="farms (stops) on the driver's route")
    parser.add_argument("--rate", type=int, default=None, help="orders a second pushed during the host run")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    farms = args.farms or (6 if args.smoke else 30)
    rate = args.rate or (200 if args.smoke else 1000)
    seconds = args.seconds or (2.0 if args.smoke else 20.0)
    import migrations

    own = None
    if args.database_url:
        url = args.database_url
    elif args.smoke:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'pages.sqlite3'}"
    else:
        url = own = create_database()
    migrations.upgrade(url)
    proc, base = start_server(url, args.workers)
    try:
        ids = seed(url, base, farms, stock=int(rate * seconds * 2 / farms) + 10)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch(playwright)
            weight = driver_weight(browser, base, ids)
            lag = host_lag(browser, base, ids, rate, seconds)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
        if own:
            drop_database(own)
    load = os.getloadavg()
    print(f"database: {url.split('@')[-1] if '@' in url else url.split(':')[0]}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"driver page: {weight['bytes'] / 1024:.1f} KB over the wire in {weight['requests']} responses "
          f"(route of {weight['stops']} stops; target < 200 KB): "
          + ", ".join(f"{path} {size / 1024:.1f} KB" for path, size in weight["largest"]))
    print(f"host page lag: {lag['orders']} orders at {lag['achieved_rate']:.0f} orders/s "
          f"({lag['batches']} batches of {BATCH}); lag p50 {lag['p50']:.2f} s, p99 {lag['p99']:.2f} s, "
          f"max {lag['max']:.2f} s (target <= 2 s)")
    print(json.dumps({"driver_page_kb": round(weight["bytes"] / 1024, 1), "stops": weight["stops"],
                      "host_lag_p99_s": round(lag["p99"], 2), "host_lag_max_s": round(lag["max"], 2),
                      "orders_per_s": round(lag["achieved_rate"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Platform pushes without lines, completed from the platforms' order-detail APIs: from a paid push to
the order reserved (p50, p99), and how long after the last unit is reserved the platforms' listing
stock reads zero.

Douyin's and Kuaishou's pushes (their own formats, signed and encrypted as they send them) are sent
at a set pace to `coop serve`, against local stand-ins of the two open APIs (`supply.platforms.sandbox`,
each in its own process, checking signatures and tokens), with `coop platform-sync` keeping the
listings' stock. With --redis-url the order-detail jobs run on rq workers (`coop worker`) on a fresh
PostgreSQL database; without, inline on SQLite. Targets (issue 15): p99 under 2 s; listing lag under 2 s.

    python benchmarks/platform_links.py --smoke
    python benchmarks/platform_links.py --pushes 5000 --rate 500 --postgres --redis-url redis://127.0.0.1:6379/15
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOUYIN = {"app_key": "7012345678901234567", "app_secret": "bench-douyin-secret", "shop_id": "77977"}
KUAISHOU = {"app_key": "ks-bench", "message_key": "MDEyMzQ1Njc4OWFiY2RlZg==", "app_secret": "ks-bench-secret",
            "sign_secret": "ks-bench-sign", "code": "ks-bench-code"}
SKU, DY_SKU, KS_SKU = "NOODLE-500", "1760000000001", "ks-sku-55"
TARGET_S = 2.0


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, what: str, timeout_s: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="60 pushes at 50/s on SQLite, inline jobs")
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="pushes a second")
    parser.add_argument("--threads", type=int, default=64,
                        help="sending threads (connections kept open; the platforms push over many)")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default=None, help="rq workers on this Redis (with --postgres)")
    parser.add_argument("--workers", type=int, default=3, help="rq worker processes")
    parser.add_argument("--web-workers", type=int, default=2, help="`coop serve` worker processes")
    parser.add_argument("--dump", default=None, help="write each order's times (sent, stored, asked, recorded) "
                                                     "to this JSON file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # stop the processes and drop the database on kill
    if args.smoke:
        args.pushes, args.rate, args.threads, args.web_workers = 60, 50.0, 8, 1

    import requests
    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, select, text

    import migrations
    from config import Settings
    from supply.db.models import Job, Order, PlatformMessage
    from supply.platforms.sandbox import douyin_push, kuaishou_push_body
    from supply.services import platform_links
    from supply.wiring import build_services

    db_name = admin = None
    if args.postgres:
        db_name = f"coop_links_{os.getpid()}"
        admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {db_name}"))
            conn.execute(text(f"CREATE DATABASE {db_name}"))
        database_url = args.admin_url.rsplit("/", 1)[0] + "/" + db_name
    else:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='links-')}/coop.sqlite3"
    migrations.upgrade(database_url)
    units = args.pushes // 2          # half the pushes find stock
    procs: list[subprocess.Popen] = []
    logs = Path(tempfile.mkdtemp(prefix="links-logs-"))

    def start(name: str, cmd: list[str], env: dict) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "w")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    redis_url = args.redis_url if args.postgres else None
    services = None
    try:
        fakes = {}
        for name, creds in (("douyin", DOUYIN), ("kuaishou", KUAISHOU)):
            port = free_port()
            start(f"sandbox-{name}", [sys.executable, "-m", "supply.platforms.sandbox", name, json.dumps(creds), str(port)],
                  dict(os.environ))
            fakes[name] = f"http://127.0.0.1:{port}"
            wait_up(fakes[name] + "/_sandbox/state", f"the {name} stand-in")
        env = dict(os.environ, DATABASE_URL=database_url,
                   COOP_PLATFORM_SECRETS=json.dumps({"douyin": DOUYIN, "kuaishou": KUAISHOU}),
                   COOP_PLATFORM_API_URLS=json.dumps(fakes), COOP_CREDENTIALS_KEY=Fernet.generate_key().decode(),
                   COOP_LOG_LEVEL="WARNING", COOP_ACCESS_LOG="0", COOP_RQ_QUEUE=f"links-{os.getpid()}",
                   COOP_RATE_LIMIT_WEBHOOKS="", COOP_RATE_LIMIT_KEY_PREFIX=f"links-{os.getpid()}")
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        settings = Settings.from_env(env)
        services = build_services(settings)
        with services.db.transaction() as session:
            from supply.services.catalog import FarmInput, ProductInput, register_farm, register_product
            from supply.services.stock import adjust_stock

            farm = register_farm(session, 1, FarmInput(name="f", lat=1, lon=1), None)
            register_product(session, 1, ProductInput(sku=SKU, name=SKU, unit="bag", unit_weight_kg=1, unit_volume_l=1))
            for kind in ("declared", "confirmed"):
                adjust_stock(session, 1, farm_id=farm["id"], sku=SKU, delta=units, kind=kind, reason="r", actor="bench")
            platform_links.link_listing(session, 1, platform="douyin", product_ref=DY_SKU, item_ref="36001", sku=SKU)
            platform_links.link_listing(session, 1, platform="kuaishou", product_ref=KS_SKU, item_ref="ks-item", sku=SKU)
        requests.post(fakes["douyin"] + "/_sandbox/listings", json=[{"sku": DY_SKU, "item": "36001"}])
        requests.post(fakes["kuaishou"] + "/_sandbox/listings", json=[{"sku": KS_SKU, "item": "ks-item"}])
        platform_links.authorize_shop(services, 1, "kuaishou", KUAISHOU["code"])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        start("serve", [sys.executable, "-m", "supply.cli", "serve", "--bind", f"127.0.0.1:{port}",
                        "--workers", str(args.web_workers), "--threads", "16"], env)
        start("platform-sync", [sys.executable, "-m", "supply.cli", "platform-sync", "--interval", "0.1"], env)
        for n in range(args.workers if redis_url else 0):
            start(f"worker-{n}", [sys.executable, "-m", "supply.cli", "worker", "--sweep-interval", "5"], env)
        wait_up(base + "/healthz", "coop serve")

        run_id = uuid.uuid4().int % 10**6
        items, dy_orders, ks_orders = [], [], []
        for n in range(args.pushes):
            if n % 2 == 0:
                order = str(4_000_000_000_000_000_000 + run_id * 100_000 + n)
                dy_orders.append({"id": order, "lines": [[DY_SKU, 1]], "item": "36001"})
                raw, headers = douyin_push([{"tag": "101", "msg_id": f"dy-{order}", "data": json.dumps(
                    {"p_id": int(order), "order_status": 2, "pay_time": 1718712060, "pay_amount": 1990})}],
                    DOUYIN["app_key"], DOUYIN["app_secret"])
                items.append(("douyin", order, raw, headers))
            else:
                order = str(2_000_000_000_000 + run_id * 100_000 + n)
                ks_orders.append({"id": order, "lines": [[KS_SKU, 1]], "item": "ks-item"})
                raw = kuaishou_push_body({"eventId": f"ks-{order}", "appKey": KUAISHOU["app_key"],
                                          "event": "kwaishop_order_paySuccess", "info": json.dumps(
                                              {"oid": int(order), "status": 30, "updateTime": 1718712060000})},
                                         KUAISHOU["message_key"])
                items.append(("kuaishou", order, raw, {}))
        requests.post(fakes["douyin"] + "/_sandbox/orders", json=dy_orders).raise_for_status()
        requests.post(fakes["kuaishou"] + "/_sandbox/orders", json=ks_orders).raise_for_status()
        time.sleep(1.5)   # the first listing figures told before the spike
        local = threading.local()
        sent: dict[str, float] = {}
        failures = []
        answered: list[float] = []

        # The pushes are signed and encrypted above, as the platforms send them; here each sending thread
        # keeps one connection open (http.client: the sender's own cost stays small beside the service's).
        bodies = [(platform, order, raw if isinstance(raw, bytes) else raw.encode(), headers)
                  for platform, order, raw, headers in items]

        def send(item):
            platform, order, raw, headers = item
            for attempt in (1, 2):
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                if attempt == 1:
                    sent[order] = time.time()
                try:
                    conn.request("POST", f"/api/v1/webhooks/{platform}", body=raw, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    break
                except (ConnectionError, http.client.HTTPException):   # the server closed a kept connection
                    conn.close()
                    local.conn = None
                    if attempt == 2:
                        failures.append("connection")
                        return
            answered.append(time.time() - sent[order])
            if response.status != 200:
                failures.append(response.status)

        started = time.time()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            futures = []
            for n, item in enumerate(bodies):
                delay = started + n / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, item))
            for f in futures:
                f.result()
        sending_s = time.time() - started
        deadline = time.time() + 180
        waiting = None
        while time.time() < deadline:
            with services.db.transaction() as session:
                waiting = session.execute(text("SELECT count(*) FROM platform_messages WHERE status = 'needs_order_detail'")).scalar()
                stored = session.execute(text("SELECT count(*) FROM platform_messages")).scalar()
            if stored >= args.pushes and waiting == 0:
                break
            time.sleep(0.2)
        with services.db.transaction() as session:
            rows = session.execute(select(Order.external_id, Order.status, Order.created_at)).all()
            stored_at = dict(session.execute(select(PlatformMessage.external_order_id, PlatformMessage.created_at)).all())
            job_rows = session.execute(select(Job.created_at, Job.started_at, Job.finished_at).where(
                Job.kind == "platform_order_details", Job.finished_at.is_not(None))).all()
        waits = [(j.started_at - j.created_at).total_seconds() for j in job_rows]
        runs = [(j.finished_at - j.started_at).total_seconds() for j in job_rows]
        latencies = [row.created_at.timestamp() - sent[row.external_id] for row in rows if row.external_id in sent]
        reserved = [row for row in rows if row.status == "reserved"]
        last_reserved = max(row.created_at.timestamp() for row in reserved) if reserved else started
        lag_deadline = time.time() + 30
        zero_at = {}
        while time.time() < lag_deadline and len(zero_at) < 2:
            for name, ref in (("douyin", DY_SKU), ("kuaishou", KS_SKU)):
                state = requests.get(fakes[name] + "/_sandbox/state").json()
                if state["stock"][ref] == 0:
                    zero_at[name] = next(t for t, sku, figure in reversed(state["stock_writes"]) if sku == ref and figure == 0)
            time.sleep(0.1)
        states = {name: requests.get(url + "/_sandbox/state").json() for name, url in fakes.items()}
        # where the time goes, per order: sent -> push stored -> detail asked of the platform -> order recorded
        asked = {**states["douyin"]["detail_at"], **states["kuaishou"]["detail_at"]}
        douyin_orders = {order["id"] for order in dy_orders}
        phases = {"sent -> stored": [], "stored -> detail asked (douyin)": [], "stored -> detail asked (kuaishou)": [],
                  "detail asked -> recorded": []}
        for row in rows:
            order = row.external_id
            if order in sent and order in asked and stored_at.get(order) is not None:
                stored = stored_at[order].timestamp()
                phases["sent -> stored"].append(stored - sent[order])
                phases["stored -> detail asked (douyin)" if order in douyin_orders
                       else "stored -> detail asked (kuaishou)"].append(asked[order] - stored)
                phases["detail asked -> recorded"].append(row.created_at.timestamp() - asked[order])
        if args.dump:
            Path(args.dump).write_text(json.dumps([
                {"order": row.external_id, "sent": sent.get(row.external_id), "asked": asked.get(row.external_id),
                 "stored": stored_at[row.external_id].timestamp() if stored_at.get(row.external_id) else None,
                 "recorded": row.created_at.timestamp(), "status": row.status} for row in rows]))
        load = os.getloadavg()
        setup = f"PostgreSQL + rq ({args.workers} workers)" if redis_url else (
            "PostgreSQL, jobs inline" if args.postgres else "SQLite, jobs inline")
        lag = (max(zero_at.values()) - last_reserved) if len(zero_at) == 2 else float("nan")
        print(f"platform links benchmark: {setup}, coop serve x{args.web_workers}; {args.pushes} pushes (Douyin and "
              f"Kuaishou, one order each) at {args.rate:.0f}/s asked, {args.pushes / sending_s:.0f}/s sent; "
              f"{units} units in stock; {len(failures)} pushes refused"
              + (f" ({dict(Counter(map(str, failures)))})" if failures else ""))
        print(f"  orders recorded {len(rows)}, reserved {len(reserved)} (stock {units}), still awaiting detail {waiting}, "
              f"oversell {max(0, len(reserved) - units)}")
        print(f"  push answered (stored, acknowledged): p50 {percentile(answered, 0.5):.3f} s, "
              f"p99 {percentile(answered, 0.99):.3f} s")
        print(f"  paid push -> order recorded: p50 {percentile(latencies, 0.5):.3f} s, p99 {percentile(latencies, 0.99):.3f} s, "
              f"max {max(latencies) if latencies else float('nan'):.3f} s (target p99 < {TARGET_S:.0f} s)")
        each = ", ".join(f"{name} {zero_at[name] - last_reserved:.3f} s" for name in sorted(zero_at))
        print(f"  listing stock lag, last unit reserved -> both platforms read 0: {lag:.3f} s ({each}; target < {TARGET_S:.0f} s); "
              f"platform stock now douyin {states['douyin']['stock'][DY_SKU]}, kuaishou {states['kuaishou']['stock'][KS_SKU]}")
        print(f"  detail calls douyin {states['douyin']['calls'].get('order.orderDetail', 0)}, "
              f"kuaishou {states['kuaishou']['calls'].get('open.order.detail', 0)}; "
              f"bad signatures {states['douyin']['bad_signatures'] + states['kuaishou']['bad_signatures']}")
        print("  phases:\n    " + "\n    ".join(f"{name} p50 {percentile(v, 0.5):.3f} s, p99 {percentile(v, 0.99):.3f} s"
                                       for name, v in phases.items()))
        print(f"  order-detail jobs {len(job_rows)}: queued p50 {percentile(waits, 0.5):.3f} s, p99 {percentile(waits, 0.99):.3f} s; "
              f"ran p50 {percentile(runs, 0.5):.3f} s, p99 {percentile(runs, 0.99):.3f} s")
        print(f"  machine load (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs (shared)")
        return 0 if len(reserved) == units and waiting == 0 and not failures else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if services is not None:
            services.close()
        if db_name:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))


if __name__ == "__main__":
    raise SystemExit(main())

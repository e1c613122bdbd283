"""Soak: intake, signed pushes, holds and availability reads at half the measured capacity, and a
planning job every minute, for --minutes, through `coop serve` (granian, 2 workers) on PostgreSQL with
rq workers on Redis. Prints, every interval, the memory (RSS) of every process (server workers, rq
workers, this load generator), and at the end the error counts and latency percentiles per kind,
the planning jobs' outcomes and versions, and whether memory stayed flat.

    python benchmarks/soak.py --minutes 30            # the issue's run
    python benchmarks/soak.py --smoke                 # about 30 s in all (the test suite runs it)
    python benchmarks/soak.py --sqlite --smoke        # the embedded default: SQLite, jobs inline

Capacity is measured first (single orders from 16 clients for a few seconds); the soak then sends
half of it, split 50 % orders, 30 % availability reads, 10 % pushes of 10 events, 10 % holds.
The CPU is shared: the machine's load is printed beside the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import (  # noqa: E402
    ADMIN_URL,
    PUSH_PLATFORM,
    PUSH_SECRET,
    Connection,
    create_database,
    drop_database,
    percentile,
    render,
    start_server,
)

DAY = "2026-11-30"
HUB = {"name": "县城集散中心 hub", "lat": 42.5078, "lon": 1.5211, "opens_at": "06:00", "cutoff_at": "18:00"}
# Farms on the bundled Andorra extract (its roads are the routing test data).
FARMS = [("卡尼略 王家农户", 42.5676, 1.5976), ("恩坎普 李家农户", 42.5345, 1.5800), ("马家庄", 42.5562, 1.5331)]
SKUS = ("SOAK-NOODLE", "SOAK-HONEY", "SOAK-TEA")
MIX = {"order": 0.5, "availability": 0.3, "push": 0.1, "hold": 0.1}
EXPECTED = {"order": (201,), "availability": (200,), "push": (200,), "hold": (201, 200), "plan": (202,)}


# --- setup through the API -------------------------------------------------------------------------

def seed_token(database_url: str) -> str:
    from supply.db.session import Database
    from supply.services.auth import create_token

    db = Database(database_url)
    with db.transaction() as session:
        token = create_token(session, role="manager", label="soak")
    db.dispose()
    return token


def api(base: str, token: str, method: str, path: str, body=None, expect=(200, 201, 202)):
    import requests

    response = requests.request(method, base + path, json=body, timeout=60,
                                headers={"Authorization": f"Bearer {token}"})
    if response.status_code not in expect:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response.json()


def wait_job(base: str, token: str, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api(base, token, "GET", f"/api/v1/jobs/{job_id}")
        if job["status"] in ("finished", "failed"):
            return job
        time.sleep(0.2)
    return {"status": "timed out", "error": None}


def set_up_day(base: str, token: str) -> tuple[int, int]:
    """Farms with stock, a hub and a truck, a stream, orders allocated to pickups and confirmed: a day
    to plan again every minute. Returns (hub id, stream id)."""
    hub = api(base, token, "POST", "/api/v1/hubs", HUB)
    api(base, token, "POST", "/api/v1/vehicles", {
        "hub_id": hub["id"], "name": "东风 truck", "plate": "新F-12345", "capacity_kg": 3000, "capacity_l": 10000,
        "shift_start": "06:00", "shift_end": "18:00"})
    for sku in SKUS:
        api(base, token, "POST", "/api/v1/products", {"sku": sku, "name": "苦荞挂面 500 g", "unit": "bag",
                                                      "unit_weight_kg": 0.5, "unit_volume_l": 0.8})
    for i, (name, lat, lon) in enumerate(FARMS):
        farm = api(base, token, "POST", "/api/v1/farms", {"name": name, "lat": lat, "lon": lon,
                                                          "window_start": "07:00", "window_end": "16:00"})
        for sku in SKUS:
            for kind in ("declared", "confirmed"):
                api(base, token, "POST", "/api/v1/stock/adjustments", {
                    "farm_id": farm["id"], "sku": sku, "delta": 30_000_000, "kind": kind, "reason": "soak stock"})
    for n in range(30):
        api(base, token, "POST", "/api/v1/orders", {"platform": "douyin", "external_id": f"day-{n}",
                                                    "lines": [{"sku": SKUS[n % 3], "quantity": 20}]})
    job = wait_job(base, token, api(base, token, "POST", "/api/v1/allocations", {"date": DAY})["id"])
    if job["status"] != "finished":
        raise SystemExit(f"allocation: {job}")
    for pickup in api(base, token, "GET", f"/api/v1/pickups?date={DAY}"):
        api(base, token, "POST", f"/api/v1/pickups/{pickup['id']}/confirm", {"quantity_ready": pickup["quantity"]})
    stream = api(base, token, "POST", "/api/v1/streams", {
        "platform": "douyin", "host": "阿依古丽", "starts_at": "2026-11-30T12:00:00+08:00",
        "ends_at": "2026-11-30T23:00:00+08:00"})
    return hub["id"], stream["id"]


# --- load ------------------------------------------------------------------------------------------

def get(path: str, token: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


def signed_push(tag: str, n: int) -> bytes:
    events = [{"type": "order.paid", "id": f"soak-push-{tag}-{n}-{i}",
               "order": {"platform": PUSH_PLATFORM, "external_id": f"soak-push-{tag}-{n}-{i}",
                         "lines": [{"sku": SKUS[i % 3], "quantity": 1}]}} for i in range(10)]
    payload = json.dumps({"events": events}, separators=(",", ":")).encode()
    signature = hmac.new(PUSH_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    return (f"POST /api/v1/webhooks/{PUSH_PLATFORM} HTTP/1.1\r\nHost: soak\r\nX-Signature: sha256={signature}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload


class Figures:
    def __init__(self):
        self.latency: dict[str, list[float]] = {kind: [] for kind in (*MIX, "plan")}
        self.errors: dict[str, dict] = {kind: {} for kind in (*MIX, "plan")}

    def record(self, kind: str, status: int | str, seconds: float) -> None:
        self.latency[kind].append(seconds)
        if status not in EXPECTED[kind]:
            self.errors[kind][status] = self.errors[kind].get(status, 0) + 1


def request_for(kind: str, n: int, token: str, tag: str, stream_id: int) -> bytes:
    sku = SKUS[n % 3]
    if kind == "order":
        return render("/api/v1/orders", {"platform": "douyin", "external_id": f"soak-{tag}-{n}",
                                         "lines": [{"sku": sku, "quantity": 1}]}, token)
    if kind == "availability":
        return get(f"/api/v1/products/{sku}/availability", token)
    if kind == "push":
        return signed_push(tag, n)
    return render(f"/api/v1/streams/{stream_id}/holds", {"sku": sku, "quantity": 1}, token)


async def paced(kind: str, rate: float, until: float, port: int, token: str, tag: str, stream_id: int,
                figures: Figures, connections: int = 4) -> None:
    """`rate` requests a second of `kind` over `connections` keep-alive connections (open loop: each
    connection keeps its own schedule and catches up when late)."""
    if rate <= 0:
        return
    interval = connections / rate
    counter = iter(range(10**12))

    async def one(offset: float) -> None:
        conn = await Connection.open(port)
        due = time.monotonic() + offset
        while True:
            now = time.monotonic()
            if now >= until:
                break
            if due > now:
                await asyncio.sleep(due - now)
            due += interval
            raw = request_for(kind, next(counter), token, tag, stream_id)
            started = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.request(raw), 30)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                status = type(exc).__name__
                conn.close()
                conn = await Connection.open(port)
            figures.record(kind, status, time.perf_counter() - started)
        conn.close()

    await asyncio.gather(*(one(i * interval / connections) for i in range(connections)))


def planner(base: str, token: str, hub_id: int, until: float, every_s: float, figures: Figures,
            outcomes: list) -> None:
    """A planning job every `every_s` seconds; records the time to its end and its outcome."""
    import requests

    while time.monotonic() + 5 < until:
        started = time.perf_counter()
        try:
            response = requests.post(base + "/api/v1/dispatch-plans", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"hub_id": hub_id, "date": DAY, "time_limit_s": 2})
            status = response.status_code
            job = wait_job(base, token, response.json()["id"]) if status == 202 else {"status": "refused"}
        except requests.RequestException as exc:
            status, job = type(exc).__name__, {"status": "error"}
        figures.record("plan", status if job.get("status") == "finished" else f"job {job.get('status')}",
                       time.perf_counter() - started)
        outcomes.append(job)
        time.sleep(max(0.0, every_s - (time.perf_counter() - started)))


# --- memory of every process -----------------------------------------------------------------------

def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory(processes: dict[str, int]) -> dict[str, float]:
    """RSS in MB of each named process and of each of its descendants (granian's workers, rq's horses)."""
    figures = {}
    for name, pid in processes.items():
        for i, each in enumerate([pid] if name == "load" else [pid, *descendants(pid)]):
            value = rss_mb(each)
            if value is not None:
                figures[name if i == 0 else f"{name}.{i}"] = value
    return figures


# --- the run ---------------------------------------------------------------------------------------

async def probe(port: int, token: str, tag: str, seconds: float, clients: int = 16) -> float:
    """Single orders as fast as `clients` connections go, for `seconds`: requests a second."""
    done = 0
    until = time.monotonic() + seconds

    async def client(c: int) -> None:
        nonlocal done
        conn = await Connection.open(port)
        n = 0
        while time.monotonic() < until:
            await conn.request(render("/api/v1/orders", {"platform": "probe", "external_id": f"p-{tag}-{c}-{n}",
                                                         "lines": [{"sku": SKUS[n % 3], "quantity": 1}]}, token))
            n += 1
            done += 1
        conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return done / (time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--smoke", action="store_true", help="a 16-second soak with a planning job every 10 s")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default (jobs inline), not PostgreSQL")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to create the fresh database in")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured capacity")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between memory lines")
    args = parser.parse_args(argv)
    seconds = 16.0 if args.smoke else args.minutes * 60
    plan_every = 10.0 if args.smoke else 60.0
    interval = 5.0 if args.smoke else args.interval
    tag = uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    if args.sqlite:
        database_url = f"sqlite:///{workdir / 'soak.sqlite3'}"
        os.environ.pop("REDIS_URL", None)
    else:
        database_url = create_database(args.admin_url)
        os.environ.update(REDIS_URL=args.redis_url, COOP_RQ_QUEUE=f"soak-{tag}")
    import migrations

    migrations.upgrade(database_url)
    token = seed_token(database_url)
    os.environ["COOP_LOG_LEVEL"] = "WARNING"
    os.environ["COOP_ACCESS_LOG"] = "0"
    workers: list[subprocess.Popen] = []
    server = None
    try:
        server, port = start_server(database_url, 2, 16)
        env = dict(os.environ, DATABASE_URL=database_url)
        if not args.sqlite:
            for _ in range(args.rq_workers):
                workers.append(subprocess.Popen([sys.executable, "-m", "supply.cli", "worker", "--sweep-interval", "10"],
                                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
        hub_id, stream_id = set_up_day(base, token)
        capacity = asyncio.run(probe(port, token, tag, 2.0 if args.smoke else 10.0))
        rate = capacity * args.fraction
        load = os.getloadavg()
        print(f"setup: {'SQLite, jobs inline' if args.sqlite else f'PostgreSQL, {args.rq_workers} rq workers'}; "
              f"capacity {capacity:,.0f} single orders/s (16 clients); soak at {args.fraction:.0%}: "
              f"{rate:,.0f} requests/s for {seconds / 60:.1f} min, a planning job every {plan_every:.0f} s; "
              f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
        processes = {"server": server.pid, "load": os.getpid(), **{f"rq{i}": w.pid for i, w in enumerate(workers)}}
        figures, outcomes, samples = Figures(), [], []
        until = time.monotonic() + seconds

        async def soak() -> None:
            loop = asyncio.get_running_loop()
            plans = loop.run_in_executor(None, planner, base, token, hub_id, until, plan_every, figures, outcomes)
            tasks = [paced(kind, rate * share, until, port, token, tag, stream_id, figures)
                     for kind, share in MIX.items()]
            gathered = asyncio.gather(*tasks)
            started = time.monotonic()
            while time.monotonic() < until:
                await asyncio.sleep(min(interval, max(0.0, until - time.monotonic())))
                sample = memory(processes)
                samples.append(sample)
                done = sum(len(v) for v in figures.latency.values())
                errors = sum(sum(e.values()) for e in figures.errors.values())
                print(f"t={time.monotonic() - started:6.0f} s  requests {done:,} "
                      f"({done / max(1e-9, time.monotonic() - started):,.0f}/s)  errors {errors}  load "
                      f"{os.getloadavg()[0]:.2f}  RSS MB " + " ".join(f"{k} {v:.0f}" for k, v in sorted(sample.items())),
                      flush=True)
            await gathered
            await plans

        asyncio.run(soak())
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
        if server is not None:
            server.terminate()
            server.wait(20)
        if not args.sqlite:
            drop_database(args.admin_url, database_url)
    print(f"{'kind':<13} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  error kinds")
    for kind, values in figures.latency.items():
        if values:
            errors = figures.errors[kind]
            print(f"{kind:<13} {len(values):>9,} {sum(errors.values()):>7} {percentile(values, 0.5) * 1000:>8.1f} "
                  f"{percentile(values, 0.99) * 1000:>8.1f} {max(values) * 1000:>8.1f}  {errors or ''}")
    versions = sorted(job["result"]["version"] for job in outcomes if job.get("status") == "finished")
    print(f"planning jobs: {len(outcomes)}, finished {len(versions)}, versions {versions[:3]}..{versions[-3:]} "
          f"consecutive {versions == list(range(versions[0], versions[0] + len(versions))) if versions else 'n/a'}")
    growth = {}
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        growth = {k: last[k] - first[k] for k in first if k in last}
        print("memory from the first sample to the last (MB): "
              + " ".join(f"{k} {v:+.0f}" for k, v in sorted(growth.items())))
    total_errors = sum(sum(e.values()) for e in figures.errors.values())
    load = os.getloadavg()
    print(f"errors {total_errors}; load at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if total_errors == 0 and outcomes and len(versions) == len(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())

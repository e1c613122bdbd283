"""Faults caused for real against PostgreSQL and Redis: a worker SIGKILLed mid-solve, Redis restarted
empty during a spike, PostgreSQL restarted during intake. Whatever fails, the fixtures bring both
services back up, since the rest of the suite needs them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from supply import jobs
from tests.conftest import PG_URL, REDIS_URL, ROOT, auth, require_service
from tests.e2e.test_dispatch_flow import HUB, VILLAGES
from tests.helpers import wait_for

DAY = "2026-11-24"
PG_VERSION = max(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else "15"
PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main"]
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]
WORKER_CODE = (
    "from config import Settings; from supply.worker import run_worker; "
    "run_worker(Settings.from_env(), stale_after_s=3, sweep_interval_s=1, queued_grace_s=1)"
)


def _redis_up() -> bool:
    return subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip() == "PONG"


def _pg_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0


def restart_redis_empty() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)
    wait_for(lambda: not _redis_up(), 10, "Redis to stop")
    subprocess.run(REDIS_START, check=True, capture_output=True)
    wait_for(_redis_up, 10, "Redis to start")


@pytest.fixture
def services_back_up():
    """Whatever the test did, PostgreSQL and Redis run again afterwards."""
    require_service(bool(PG_URL), "PostgreSQL")
    require_service(bool(REDIS_URL), "Redis")
    yield
    if not _redis_up():
        subprocess.run(REDIS_START, capture_output=True)
    if not _pg_up():
        subprocess.run([*PG_CTL, "start"], capture_output=True)
    wait_for(_redis_up, 15, "Redis to be back")
    wait_for(_pg_up, 30, "PostgreSQL to be back")


@pytest.fixture
def worker_env(database_url):
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    return dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, COOP_RQ_QUEUE=queue,
                COOP_LOG_LEVEL="INFO")


@pytest.fixture
def start_worker(worker_env, tmp_path):
    """`coop worker` in its own process group, so the worker and its work horse die together."""
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE], env=worker_env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM if proc.poll() is None else signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _logs(*procs) -> str:
    return "\n".join(Path(p.log_path).read_text()[-2000:] for p in procs)


def _services(db, settings, worker_env):
    from supply.wiring import build_services

    return build_services(settings.with_(redis_url=REDIS_URL, rq_queue=worker_env["COOP_RQ_QUEUE"]), db=db)


def _job(services, job_id) -> dict:
    with services.db.transaction() as session:
        return jobs.get_job(session, 1, job_id)


def _post(client, path, headers, body, status=201):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _county_with_confirmed_pickups(client, manager) -> int:
    """A hub, a small truck, eight farms with noodles, orders allocated and confirmed (jobs inline)."""
    hub = _post(client, "/api/v1/hubs", manager, HUB)
    for i in range(2):
        _post(client, "/api/v1/vehicles", manager, {
            "hub_id": hub["id"], "name": f"truck {i}", "capacity_kg": 60, "capacity_l": 400,
            "shift_start": "06:00", "shift_end": "18:00", "cost_per_km": 2.5})
    _post(client, "/api/v1/products", manager, {"sku": "NOODLE-500", "name": "苦荞挂面 500 g", "unit": "bag",
                                                 "unit_weight_kg": 0.5, "unit_volume_l": 0.8})
    for i, (name, lat, lon) in enumerate(VILLAGES):
        farm = _post(client, "/api/v1/farms", manager, {"name": f"{name} {i}", "lat": lat, "lon": lon,
                                                         "window_start": "07:00", "window_end": "16:00"})
        for kind in ("declared", "confirmed"):
            _post(client, "/api/v1/stock/adjustments", manager, {
                "farm_id": farm["id"], "sku": "NOODLE-500", "delta": 40, "kind": kind, "reason": "counted"})
    orders = [{"platform": "douyin", "external_id": f"p-{n}", "lines": [{"sku": "NOODLE-500", "quantity": 8}]}
              for n in range(40)]
    _post(client, "/api/v1/orders/batch", manager, {"orders": orders}, 200)
    _post(client, "/api/v1/allocations", manager, {"date": DAY}, 202)
    for pickup in client.get(f"/api/v1/pickups?date={DAY}", headers=manager).get_json():
        _post(client, f"/api/v1/pickups/{pickup['id']}/confirm", manager, {"quantity_ready": pickup["quantity"]}, 200)
    return hub["id"]


def test_a_worker_killed_mid_solve_is_replaced_and_the_job_makes_exactly_one_plan(
        services_back_up, db, settings, client, manager, worker_env, start_worker):
    from supply.db.models import DispatchPlan

    hub_id = _county_with_confirmed_pickups(client, manager)  # the app fixture runs jobs inline
    services = _services(db, settings, worker_env)
    job_id = jobs.submit_job(services, 1, "plan", {"cooperative_id": 1, "hub_id": hub_id, "date": DAY,
                                                   "time_limit_s": 8})
    first = start_worker()
    wait_for(lambda: _job(services, job_id)["progress"] >= 25, 30, "the solver to start\n" + _logs(first))
    time.sleep(1)  # mid-solve
    assert _job(services, job_id)["status"] == "running"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(5)

    second = start_worker()
    job = wait_for(lambda: (j := _job(services, job_id))["status"] in ("finished", "failed") and j, 60,
                "the job to be run again\n" + _logs(second))
    assert job["status"] == "finished", job
    assert job["attempts"] == 2
    with db.transaction() as session:
        plans = session.execute(select(DispatchPlan).where(DispatchPlan.job_id == job_id)).scalars().all()
        assert len(plans) == 1 and plans[0].id == job["result"]["plan_id"]
        assert session.execute(select(func.count()).select_from(DispatchPlan)).scalar() == 1


def test_redis_restarted_empty_during_a_spike_loses_no_order_and_no_job(
        services_back_up, db, settings, manager, worker_env, start_worker):
    from supply.app import create_app
    from supply.db.models import Order

    services = _services(db, settings, worker_env)
    client = create_app(services.settings, services=services).test_client()
    farm = _post(client, "/api/v1/farms", manager, {"name": "马家庄", "lat": 42.5, "lon": 1.52})
    _post(client, "/api/v1/products", manager, {"sku": "NOODLE-500", "name": "挂面", "unit": "bag",
                                                 "unit_weight_kg": 0.5, "unit_volume_l": 0.8})
    for kind in ("declared", "confirmed"):
        _post(client, "/api/v1/stock/adjustments", manager, {
            "farm_id": farm["id"], "sku": "NOODLE-500", "delta": 100_000, "kind": kind, "reason": "counted"})
    acknowledged: list[str] = []
    job_ids: list[str] = []
    lock = threading.Lock()
    restarted = threading.Event()

    def spike(sender: int):
        own = create_app(services.settings, services=services).test_client()
        for batch in range(8):
            orders = [{"platform": "douyin", "external_id": f"s-{sender}-{batch}-{n}",
                       "lines": [{"sku": "NOODLE-500", "quantity": 1}]} for n in range(25)]
            answer = own.post("/api/v1/orders/batch", json={"orders": orders}, headers=manager)
            accepted = own.post("/api/v1/allocations", json={"date": DAY}, headers=manager)
            with lock:
                if answer.status_code == 200:
                    acknowledged.extend(o["external_id"] for o, r in zip(orders, answer.get_json()["results"])
                                        if r["status"] in (200, 201))
                # Redis down or not, the job is recorded and accepted
                assert accepted.status_code == 202, accepted.get_json()
                job_ids.append(accepted.get_json()["id"])
            if batch == 3 and sender == 0:  # one sender waits for the restart, the others run through it
                restarted.wait(30)

    senders = [threading.Thread(target=spike, args=(i,)) for i in range(3)]
    for t in senders:
        t.start()
    wait_for(lambda: len(job_ids) >= 9, 30, "the first jobs to be submitted")
    with lock:
        before_restart = list(job_ids)
    restart_redis_empty()  # no worker has run them yet: they were only in Redis's queue
    restarted.set()
    for t in senders:
        t.join(60)
    assert len(acknowledged) == 3 * 8 * 25
    from rq.job import Job as RqJob

    assert not any(RqJob.exists(j, connection=jobs.redis_connection(services)) for j in before_restart)

    # A worker starting now finds, in its recovery sweep, what Redis lost.
    worker = start_worker()
    for job_id in job_ids:
        job = wait_for(lambda job_id=job_id: (j := _job(services, job_id))["status"] in ("finished", "failed") and j,
                    60, f"job {job_id} to end\n" + _logs(worker))
        assert job["status"] == "finished", job
    with db.transaction() as session:
        stored = set(session.execute(select(Order.external_id).where(Order.status == "reserved")).scalars())
    assert set(acknowledged) <= stored
    pickups = client.get(f"/api/v1/pickups?date={DAY}", headers=manager).get_json()
    assert sum(p["quantity"] for p in pickups) == len(stored)


def test_postgresql_restarted_during_intake_answers_503_then_recovers_by_itself(
        services_back_up, live_server, tokens):
    headers = auth(tokens["manager"])
    base = live_server
    farm = requests.post(base + "/api/v1/farms", headers=headers, timeout=10,
                         json={"name": "马家庄", "lat": 42.5, "lon": 1.52}).json()
    requests.post(base + "/api/v1/products", headers=headers, timeout=10, json={
        "sku": "NOODLE-500", "name": "挂面", "unit": "bag", "unit_weight_kg": 0.5, "unit_volume_l": 0.8})
    for kind in ("declared", "confirmed"):
        assert requests.post(base + "/api/v1/stock/adjustments", headers=headers, timeout=10, json={
            "farm_id": farm["id"], "sku": "NOODLE-500", "delta": 100_000, "kind": kind,
            "reason": "counted"}).status_code == 201

    answers: list[tuple[str, int, dict, dict]] = []
    stop = threading.Event()

    other_paths: list[tuple[str, int, dict, dict]] = []

    def send(worker: int):
        session = requests.Session()
        n = 0
        while not stop.is_set():
            n += 1
            external_id = f"pg-{worker}-{n}"
            order = {"platform": "douyin", "external_id": external_id, "lines": [{"sku": "NOODLE-500", "quantity": 1}]}
            try:
                if worker == 3:  # a signed webhook and a batch: the other ways orders come in
                    raw = json.dumps({"events": [{"type": "order.paid", "order": dict(order, platform="generic")}]})
                    sig = hmac.new(b"test-secret", raw.encode(), hashlib.sha256).hexdigest()
                    r = session.post(base + "/api/v1/webhooks/generic", data=raw, timeout=30, headers={
                        "X-Signature": f"sha256={sig}", "Content-Type": "application/json"})
                    other_paths.append(("webhook", r.status_code, r.headers, r.json()))
                    r = session.post(base + "/api/v1/orders/batch", headers=headers, timeout=30,
                                     json={"orders": [dict(order, external_id=f"b-{n}")]})
                    other_paths.append(("batch", r.status_code, r.headers, r.json()))
                    r = session.get(base + "/api/v1/products/NOODLE-500/availability", headers=headers, timeout=30)
                    other_paths.append(("availability", r.status_code, r.headers, r.json()))
                else:
                    r = session.post(base + "/api/v1/orders", headers=headers, timeout=30, json=order)
                    answers.append((external_id, r.status_code, r.headers, r.json()))
            except requests.RequestException:
                continue
            time.sleep(0.02)

    senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in senders:
        t.start()
    time.sleep(1)
    subprocess.run([*PG_CTL, "stop", "-m", "fast"], check=True, capture_output=True)
    time.sleep(3)
    subprocess.run([*PG_CTL, "start"], check=True, capture_output=True)
    wait_for(_pg_up, 30, "PostgreSQL to start")
    time.sleep(3)
    stop.set()
    for t in senders:
        t.join(30)

    statuses = [status for _, status, _, _ in answers]
    assert 503 in statuses, statuses
    unexpected = [(s, body) for _, s, _, body in answers if s not in (201, 503)]
    assert not unexpected, unexpected[:5]
    unexpected = [(path, s, body) for path, s, _, body in other_paths if s not in (200, 503)]
    assert not unexpected, unexpected[:5]
    for _, status, response_headers, body in answers + other_paths:
        if status == 503:
            assert body["error"]["code"] == "service_unavailable" and body["error"]["message"]
            assert int(response_headers["Retry-After"]) > 0
    # the server, not restarted, answers again
    after = [s for _, s, _, _ in answers[-8:]]
    assert after.count(201) >= 4, after
    r = requests.post(base + "/api/v1/orders", headers=headers, timeout=30, json={
        "platform": "douyin", "external_id": "after-restart", "lines": [{"sku": "NOODLE-500", "quantity": 1}]})
    assert r.status_code == 201, r.text
    # every acknowledged order is stored; nothing refused is
    stored = {}
    for external_id, status, _, _ in answers:
        if status == 201:
            got = requests.post(base + "/api/v1/orders", headers=headers, timeout=30, json={
                "platform": "douyin", "external_id": external_id,
                "lines": [{"sku": "NOODLE-500", "quantity": 1}]})
            stored[external_id] = got.status_code
    assert set(stored.values()) <= {200}, stored
    availability = requests.get(base + "/api/v1/products/NOODLE-500/availability", headers=headers,
                                timeout=10).json()
    assert availability["reserved"] >= len(stored) + 1

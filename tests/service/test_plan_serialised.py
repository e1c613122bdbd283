"""Planning jobs for one hub and day run their version-taking one at a time: any number of concurrent
runs end with consecutive versions and none fails; what a job reads is checked at the request; a
failed job's error is a code and a message, never a traceback."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select

from supply.services import planning
from supply.db.models import DispatchPlan
from tests.conftest import auth
from tests.web.conftest import DAY, build_day

RUNS = 6


@pytest.fixture
def confirmed_day(client, tokens):
    manager = auth(tokens["manager"])
    day = build_day(client, tokens, publish=False)
    for p in day["pickups"]:
        assert client.post(f"/api/v1/pickups/{p['id']}/confirm", json={"quantity_ready": p["quantity"]},
                           headers=manager).status_code == 200
    return day


def test_concurrent_planning_runs_for_one_hub_and_day_end_with_consecutive_versions(app, db, confirmed_day,
                                                                                     monkeypatch):
    services = app.extensions["coop"]
    real_solve = planning.solve
    together = threading.Barrier(RUNS, timeout=60)

    def solve_then_store_together(*args, **kwargs):
        result = real_solve(*args, **kwargs)
        together.wait()   # every run reaches its version-taking at the same moment
        return result

    monkeypatch.setattr(planning, "solve", solve_then_store_together)
    outcomes: list = []

    def run(n: int) -> None:
        try:
            outcomes.append(planning.plan_dispatch(db, services.network, 1, confirmed_day["hub"]["id"],
                                                   date.fromisoformat(DAY), time_limit_s=1, job_id=f"job-{n}"))
        except Exception as exc:   # noqa: BLE001 - the test reports it
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with db.transaction() as session:
        versions = sorted(session.execute(select(DispatchPlan.version).where(
            DispatchPlan.hub_id == confirmed_day["hub"]["id"])).scalars())
    assert versions == list(range(1, RUNS + 1))
    assert sorted(o["version"] for o in outcomes) == versions


def test_a_plan_for_an_unknown_hub_or_foreign_vehicles_is_refused_at_the_request_not_by_a_failed_job(
        client, tokens, confirmed_day, db):
    manager = auth(tokens["manager"])
    hub_id = confirmed_day["hub"]["id"]
    foreign = other_cooperatives_vehicle(db)
    response = client.post("/api/v1/dispatch-plans", headers=manager,
                           json={"hub_id": hub_id, "date": DAY, "vehicle_ids": [foreign]})
    assert response.status_code == 422, response.get_json()
    assert "vehicle_ids" in response.get_json()["error"]["fields"]
    response = client.post("/api/v1/dispatch-plans", headers=manager, json={"hub_id": 999_999, "date": DAY})
    assert response.status_code == 404
    with db.transaction() as session:
        assert session.execute(select(DispatchPlan)).first() is None
    from supply.db.models import Job

    with db.transaction() as session:
        assert session.execute(select(Job).where(Job.kind == "plan")).first() is None   # no job was made


def other_cooperatives_vehicle(db) -> int:
    from datetime import time

    from supply.db.models import Cooperative, Hub, Vehicle

    with db.transaction() as session:
        coop = Cooperative(code="other-coop", name="另一个合作社")
        session.add(coop)
        session.flush()
        hub = Hub(cooperative_id=coop.id, name="h", lat=42.5, lon=1.52, opens_at=time(6), cutoff_at=time(18))
        session.add(hub)
        session.flush()
        vehicle = Vehicle(cooperative_id=coop.id, hub_id=hub.id, name="v", capacity_kg=1000, capacity_l=1000,
                          shift_start=time(6), shift_end=time(18))
        session.add(vehicle)
        session.flush()
        return vehicle.id


def test_a_planning_job_that_fails_shows_a_code_and_a_message_without_a_traceback(app, client, tokens,
                                                                                  confirmed_day, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(planning, "solve", broken)
    manager = auth(tokens["manager"])
    accepted = client.post("/api/v1/dispatch-plans", headers=manager,
                           json={"hub_id": confirmed_day["hub"]["id"], "date": DAY})
    assert accepted.status_code == 202
    job = client.get(f"/api/v1/jobs/{accepted.get_json()['id']}", headers=manager).get_json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "job_failed" and "solver crashed" in job["error"]["message"]
    assert "Traceback" not in str(job["error"]) and "/" not in job["error"]["message"]

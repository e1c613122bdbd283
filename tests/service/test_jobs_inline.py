"""Jobs without Redis: run inline at submit, recorded in the database, recovered by the sweep."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from supply import jobs
from supply.db.models import Cooperative, Job, utcnow
from supply.domain.errors import InvalidInput
from tests.conftest import auth
from tests.integration.job_handlers import TEST_HANDLERS


def fail_loudly(services, job_id, params, progress):
    progress(30, "weighing")
    raise RuntimeError("the scale is broken")


@pytest.fixture
def services(app):
    services = app.extensions["coop"]
    services.job_handlers.update(TEST_HANDLERS, fail_loudly=fail_loudly)
    return services


@pytest.fixture
def api_client(app):
    from supply.api import jobs as jobs_api

    if "jobs" not in app.blueprints:  # until the app factory registers it
        app.extensions["flask-smorest"]["apis"][""]["ext_obj"].register_blueprint(jobs_api.blp)
    return app.test_client()


def count_params(tmp_path, **extra) -> dict:
    return {"dir": str(tmp_path), **extra}


def job_row(db, job_id) -> dict:
    with db.transaction() as session:
        return jobs.get_job(session, 1, job_id)


def effects(tmp_path) -> list[str]:
    path = tmp_path / "effects.log"
    return path.read_text().split() if path.exists() else []


def set_row(db, job_id, **values) -> None:
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def test_without_redis_a_job_runs_inline_at_submit(services, db, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", count_params(tmp_path, sleep_s=0.3))

    job = job_row(db, job_id)
    assert job["status"] == "finished"
    assert job["progress"] == 100 and job["message"] == "counted"
    assert job["result"] == {"counted": job_id, "runs": 1}
    assert job["attempts"] == 1 and job["error"] is None
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert effects(tmp_path) == [job_id]


def test_a_failing_handler_leaves_the_job_failed_with_its_error_and_the_submit_succeeds(services, db):
    job_id = jobs.submit_job(services, 1, "fail_loudly", {})

    job = job_row(db, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "job_failed"
    assert "RuntimeError: the scale is broken" in job["error"]["message"]
    assert "Traceback" not in job["error"]["message"] and ".py" not in job["error"]["message"]
    assert job["progress"] == 30 and job["result"] is None and job["finished_at"] is not None


def test_a_job_of_an_unknown_kind_fails_with_a_reason(services, db):
    job_id = jobs.submit_job(services, 1, "no_such_kind", {})

    job = job_row(db, job_id)
    assert job["status"] == "failed"
    assert job["error"] == {"code": "unknown_job_kind",
                            "message": "no handler is registered for jobs of kind 'no_such_kind'"}


def test_parameters_that_are_not_json_are_refused(services):
    with pytest.raises(InvalidInput):
        jobs.submit_job(services, 1, "sleep_and_count", {"when": object()})


def test_running_a_finished_job_again_changes_nothing(services, db, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", count_params(tmp_path))
    before = job_row(db, job_id)

    assert jobs.execute_job(services, job_id) == "skipped"
    assert jobs.recover_jobs(services, queued_grace_s=0) == []

    assert job_row(db, job_id) == before
    assert (tmp_path / f"{job_id}.runs").read_text().count("\n") == 1


def test_a_failed_job_is_not_run_again(services, db):
    job_id = jobs.submit_job(services, 1, "fail_loudly", {})
    before = job_row(db, job_id)

    assert jobs.execute_job(services, job_id) == "skipped"
    assert job_row(db, job_id) == before


def test_the_sweep_runs_a_job_left_queued_by_a_process_that_died_before_dispatching_it(services, db, tmp_path):
    with db.transaction() as session:
        job_id = jobs.create_job(session, 1, "sleep_and_count", count_params(tmp_path))

    assert jobs.recover_jobs(services, queued_grace_s=60) == []  # may still be on its way
    assert jobs.recover_jobs(services, queued_grace_s=0) == [job_id]

    assert job_row(db, job_id)["status"] == "finished"
    assert effects(tmp_path) == [job_id]


def test_the_sweep_runs_again_a_job_whose_heartbeat_stopped(services, db, tmp_path):
    with db.transaction() as session:
        job_id = jobs.create_job(session, 1, "sleep_and_count", count_params(tmp_path))
    set_row(db, job_id, status="running", attempts=1, started_at=utcnow() - timedelta(minutes=5),
            heartbeat_at=utcnow() - timedelta(seconds=61))

    assert jobs.recover_jobs(services, stale_after_s=60) == [job_id]

    job = job_row(db, job_id)
    assert job["status"] == "finished" and job["attempts"] == 2
    assert effects(tmp_path) == [job_id]


def test_the_sweep_leaves_a_running_job_with_a_live_heartbeat_alone(services, db, tmp_path):
    with db.transaction() as session:
        job_id = jobs.create_job(session, 1, "sleep_and_count", count_params(tmp_path))
    set_row(db, job_id, status="running", attempts=1, heartbeat_at=utcnow() - timedelta(seconds=5))

    assert jobs.recover_jobs(services, stale_after_s=60) == []
    assert jobs.execute_job(services, job_id) == "skipped"
    assert job_row(db, job_id)["status"] == "running"


def test_a_job_interrupted_too_often_is_failed_instead_of_run_again(services, db, tmp_path):
    with db.transaction() as session:
        job_id = jobs.create_job(session, 1, "sleep_and_count", count_params(tmp_path))
    set_row(db, job_id, status="running", attempts=jobs.MAX_ATTEMPTS, heartbeat_at=utcnow() - timedelta(hours=1))

    assert jobs.recover_jobs(services) == []

    job = job_row(db, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "interrupted"
    assert f"interrupted {jobs.MAX_ATTEMPTS} times" in job["error"]["message"]
    assert effects(tmp_path) == []


def test_a_run_that_lost_its_claim_cannot_overwrite_the_run_that_took_over(services, db):
    runs = []

    def overtaken(services_, job_id, params, progress):
        runs.append(job_id)
        if len(runs) == 1:
            # this run stalls long enough to be declared dead; another run takes the job over
            set_row(db, job_id, heartbeat_at=utcnow() - timedelta(hours=1))
            assert jobs.execute_job(services_, job_id) == "finished"
            progress(50, "still here")  # fenced: must not touch the new run's record
            return {"run": 1}
        return {"run": 2}

    services.job_handlers["overtaken"] = overtaken
    job_id = jobs.submit_job(services, 1, "overtaken", {})

    job = job_row(db, job_id)
    assert job["result"] == {"run": 2} and job["attempts"] == 2
    assert job["status"] == "finished" and job["progress"] == 100


def test_a_handler_that_reports_no_progress_still_keeps_its_heartbeat(services, db, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_INTERVAL_S", 0.05)

    def heartbeat_at(job_id):
        with db.transaction() as session:
            return session.get(Job, job_id).heartbeat_at

    def quiet(services_, job_id, params, progress):
        first = heartbeat_at(job_id)
        time.sleep(0.5)  # a long solver call
        return {"advanced": heartbeat_at(job_id) > first}

    services.job_handlers["quiet"] = quiet
    job_id = jobs.submit_job(services, 1, "quiet", {})

    assert job_row(db, job_id)["result"] == {"advanced": True}


def test_get_job_answers_the_manager(services, api_client, manager, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", count_params(tmp_path))

    response = api_client.get(f"/api/v1/jobs/{job_id}", headers=manager)

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == job_id and body["status"] == "finished" and body["progress"] == 100
    assert body["result"] == {"counted": job_id, "runs": 1} and body["error"] is None
    assert body["kind"] == "sleep_and_count" and body["attempts"] == 1
    assert body["finished_at"].endswith("+00:00")


def test_get_job_shows_why_a_job_failed(services, api_client, manager):
    job_id = jobs.submit_job(services, 1, "fail_loudly", {})

    body = api_client.get(f"/api/v1/jobs/{job_id}", headers=manager).get_json()

    assert body["status"] == "failed" and body["result"] is None
    assert body["error"]["code"] == "job_failed"
    assert "RuntimeError: the scale is broken" in body["error"]["message"]


@pytest.mark.parametrize("job_id", ["3f2b9a4e-0000-4000-8000-000000000000", "not-a-job", "x" * 100])
def test_an_unknown_job_is_404_in_the_error_shape(api_client, manager, job_id):
    response = api_client.get(f"/api/v1/jobs/{job_id}", headers=manager)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_another_cooperatives_job_is_404(db, api_client, manager):
    with db.transaction() as session:
        session.add(Cooperative(id=2, code="other", name="Other cooperative"))
        session.flush()
        job_id = jobs.create_job(session, 2, "sleep_and_count", {})

    response = api_client.get(f"/api/v1/jobs/{job_id}", headers=manager)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_jobs_are_for_managers_only(services, api_client, tokens, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", count_params(tmp_path))

    assert api_client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    response = api_client.get(f"/api/v1/jobs/{job_id}", headers=auth(tokens["host"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_the_openapi_document_describes_the_job_resource(api_client):
    spec = api_client.get("/api/v1/openapi.json").get_json()

    operation = spec["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert "200" in operation["responses"]
    schema = spec["components"]["schemas"]["JobOut"]
    assert schema["properties"]["status"]["enum"] == ["queued", "running", "finished", "failed"]

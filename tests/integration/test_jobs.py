"""Jobs on real Redis and a real worker process, with the faults caused for real: a worker and its work
horse SIGKILLed mid-job, Redis emptied after a submit, Redis down at submit, a failing handler.

The worker is `supply.worker.run_worker` in a subprocess (what `coop worker` runs), with short sweep
intervals so recovery happens within seconds. The test handler comes from
tests/integration/job_handlers.py, handed to the worker through `run_worker(handlers=...)`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import pytest

from supply import jobs
from tests.conftest import REDIS_URL, ROOT, require_service
from tests.helpers import wait_for
from tests.integration.job_handlers import TEST_HANDLERS

# A Redis database of its own, flushed by these tests.
TEST_REDIS_DB = int(os.environ.get("COOP_TEST_REDIS_DB", "15"))
WORKER_CODE = (
    "import sys; from config import Settings; from supply.worker import run_worker; "
    "from tests.integration.job_handlers import TEST_HANDLERS; "
    "run_worker(Settings.from_env(), stale_after_s=float(sys.argv[1]), sweep_interval_s=1, queued_grace_s=1, "
    "handlers=TEST_HANDLERS)"
)


@pytest.fixture
def redis_url() -> str:
    require_service(bool(REDIS_URL), "Redis")
    return urlsplit(REDIS_URL)._replace(path=f"/{TEST_REDIS_DB}").geturl()


@pytest.fixture
def redis_conn(redis_url):
    import redis

    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.close()


@pytest.fixture
def services(db, settings, redis_url, redis_conn):
    from supply.wiring import build_services

    # a queue of its own, so a worker of another test run on this Redis takes none of these jobs
    services = build_services(settings.with_(redis_url=redis_url, rq_queue=f"coop-test-{uuid.uuid4().hex[:8]}"), db=db)
    services.job_handlers.update(TEST_HANDLERS)  # "sleep_and_count" here too, as in the worker
    return services


@pytest.fixture
def start_worker(services, database_url, tmp_path):
    """Start `coop worker` in a subprocess: start_worker(stale_after_s=60) -> Popen."""
    procs: list[subprocess.Popen] = []
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=services.settings.redis_url,
               COOP_RQ_QUEUE=services.settings.rq_queue, COOP_LOG_LEVEL="INFO")

    def start(stale_after_s: float = 60) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(stale_after_s)], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log.name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid_file in tmp_path.glob("*.pid"):  # a work horse left behind by a failed test
        _kill(int(pid_file.read_text()))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def job_row(services, job_id) -> dict:
    with services.db.transaction() as session:
        return jobs.get_job(session, 1, job_id)


def wait_done(services, job_id, *workers, timeout_s: float = 20) -> dict:
    return wait_for(lambda: (job := job_row(services, job_id))["status"] in ("finished", "failed") and job,
                    timeout_s, f"job {job_id} to end", *(w.log_path for w in workers))


def effects(tmp_path) -> list[str]:
    path = tmp_path / "effects.log"
    return path.read_text().split() if path.exists() else []


def runs(tmp_path, job_id) -> int:
    path = tmp_path / f"{job_id}.runs"
    return len(path.read_text().split()) if path.exists() else 0


def rq_job(services, job_id):
    from rq.job import Job as RqJob

    return RqJob.fetch(job_id, connection=jobs.redis_connection(services))


def test_the_job_is_committed_then_enqueued_and_a_worker_runs_it(services, start_worker, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", {"dir": str(tmp_path), "sleep_s": 0.5})
    assert job_row(services, job_id)["status"] == "queued"
    assert rq_job(services, job_id).get_status() == "queued"

    worker = start_worker()
    job = wait_done(services, job_id, worker)

    assert job["status"] == "finished" and job["progress"] == 100 and job["attempts"] == 1
    assert job["result"] == {"counted": job_id, "runs": 1}
    assert effects(tmp_path) == [job_id]
    assert wait_for(lambda: rq_job(services, job_id).get_status() == "finished", 5, "rq to finish")
    assert rq_job(services, job_id).meta["progress"] == 100


def test_a_job_whose_worker_and_work_horse_are_killed_mid_job_is_run_again_once_in_effect(
        services, start_worker, tmp_path):
    first = start_worker(stale_after_s=2)
    job_id = jobs.submit_job(services, 1, "sleep_and_count", {"dir": str(tmp_path), "sleep_s": 60})
    wait_for(lambda: job_row(services, job_id)["progress"] > 0, 20, "the job to make progress", first.log_path)
    horse_pid = int((tmp_path / f"{job_id}.pid").read_text())
    assert horse_pid != first.pid

    first.kill()
    _kill(horse_pid)
    first.wait(5)
    time.sleep(0.5)
    assert job_row(services, job_id)["status"] == "running"  # what the dead worker left

    second = start_worker(stale_after_s=2)
    job = wait_done(services, job_id, second)

    assert job["status"] == "finished" and job["attempts"] == 2
    assert runs(tmp_path, job_id) == 2
    assert effects(tmp_path) == [job_id]  # run twice, applied once


def test_a_job_lost_from_redis_is_found_by_the_next_worker_and_run(services, redis_conn, start_worker, tmp_path):
    job_id = jobs.submit_job(services, 1, "sleep_and_count", {"dir": str(tmp_path)})
    redis_conn.flushdb()  # Redis restarted empty
    from rq.job import Job as RqJob

    assert not RqJob.exists(job_id, connection=redis_conn)
    time.sleep(1.1)  # older than the worker's grace for queued jobs

    worker = start_worker()
    job = wait_done(services, job_id, worker)

    assert job["status"] == "finished" and job["attempts"] == 1
    assert effects(tmp_path) == [job_id]


def test_a_job_submitted_while_redis_is_down_is_recorded_and_run_by_the_periodic_sweep(
        services, start_worker, tmp_path):
    from rq import Worker

    worker = start_worker()
    wait_for(lambda: Worker.all(queue=jobs.rq_queue(services)), 20, "the worker to start", worker.log_path)
    down = services.__class__(settings=services.settings.with_(redis_url="redis://127.0.0.1:1/0"), db=services.db)

    job_id = jobs.submit_job(down, 1, "sleep_and_count", {"dir": str(tmp_path)})
    assert job_row(services, job_id)["status"] == "queued"

    job = wait_done(services, job_id, worker)
    assert job["status"] == "finished"
    assert effects(tmp_path) == [job_id]


def test_a_failing_handler_leaves_the_job_failed_with_its_error(services, start_worker, tmp_path):
    worker = start_worker()
    job_id = jobs.submit_job(services, 1, "sleep_and_count", {"dir": str(tmp_path), "fail": "the scale is broken"})

    job = wait_done(services, job_id, worker)

    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "job_failed" and "the scale is broken" in job["error"]["message"]
    assert wait_for(lambda: rq_job(services, job_id).get_status() == "failed", 5, "rq to record the failure")
    assert effects(tmp_path) == []


def test_a_finished_job_enqueued_again_changes_nothing(services, start_worker, tmp_path):
    worker = start_worker()
    job_id = jobs.submit_job(services, 1, "sleep_and_count", {"dir": str(tmp_path)})
    before = wait_done(services, job_id, worker)
    wait_for(lambda: rq_job(services, job_id).get_status() == "finished", 5, "rq to finish")

    jobs.rq_queue(services).enqueue(jobs.run_job, job_id, job_id=job_id)
    wait_for(lambda: rq_job(services, job_id).get_status() == "finished", 20, "the second run", worker.log_path)

    assert rq_job(services, job_id).return_value() == "skipped"
    assert job_row(services, job_id) == before
    assert runs(tmp_path, job_id) == 1 and effects(tmp_path) == [job_id]

"""Background jobs: the database records every job; rq on Redis carries it, or it runs inline.

The life of a job:

1. `submit_job` (or `create_job` inside the caller's own transaction, then `dispatch_job` after the
   commit) writes a `jobs` row with status `queued`. Only after that row is committed is the job
   handed to rq (`REDIS_URL` set) or run inline in the calling process (no Redis configured). If Redis
   cannot be reached the submit still succeeds: the row stays queued and a recovery sweep finds it.
2. `execute_job` claims the row with one conditional UPDATE (queued, or running with a stale
   heartbeat -> running, attempts + 1), so two workers never both run a job and a finished or failed
   job never runs again. The claimed `attempts` value fences every later write of that run: a run that
   lost its claim (declared dead, re-run elsewhere) cannot overwrite the new run's record.
3. While the handler runs, its progress calls and a background thread every `HEARTBEAT_INTERVAL_S`
   refresh `heartbeat_at`. The outcome is `finished` with a result, or `failed` with the error text.
4. `recover_jobs` (run by `coop worker` at start and periodically) re-dispatches what was lost:
   queued jobs that rq does not hold (Redis restarted empty, enqueue failed, the work horse died
   before claiming), and running jobs whose heartbeat is older than `stale_after_s` (worker killed).
   Handlers are idempotent by contract, so running a job twice changes nothing more than once.

A handler is `fn(services, job_id, params, progress) -> dict`; `progress(percent, message=None)`
records how far it is. The kinds and their handlers are one table, supply.job_handlers, which
`services.job_handlers` holds (a test adds its own kinds there). This module imports no handler and no
Flask: the web app, the worker and the CLI all use it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import and_, or_, select, text, update

from supply.db.models import Job, utcnow
from supply.domain.errors import DomainError, InvalidInput, NotFound
from supply.metrics import JOB_SECONDS, JOBS

log = logging.getLogger(__name__)

# The id of the HTTP request being answered (set by the web layer), carried into the jobs it starts.
current_request_id: ContextVar[str | None] = ContextVar("coop_request_id", default=None)

Progress = Callable[..., None]
Handler = Callable[[object, str, dict, Progress], dict]

STATUSES = ("queued", "running", "finished", "failed")
# A running job whose heartbeat is older than this is taken to have lost its worker.
STALE_AFTER_S = 60
HEARTBEAT_INTERVAL_S = 5.0
# A queued job that rq does not hold is re-dispatched only after this long, so a sweep does not race a
# submit between its commit and its enqueue (a race that would be harmless, only wasteful).
QUEUED_GRACE_S = 10
# A job interrupted this many times (killed worker, rq timeout, crash in native code) is marked failed
# instead of being run again.
MAX_ATTEMPTS = 5
# rq kills a work horse that runs longer than this; the job is then recovered like a killed one.
JOB_TIMEOUT_S = 2 * 3600


class UnknownJob(NotFound):
    code = "not_found"


# -- submit and dispatch -------------------------------------------------------------------------

def create_job(session, cooperative_id: int, kind: str, params: dict) -> str:
    """Add a queued job row to `session` (the caller commits, then calls `dispatch_job`)."""
    try:
        params = json.loads(json.dumps(params))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"job parameters must be JSON: {exc}") from exc
    job_id = str(uuid.uuid4())
    session.add(Job(id=job_id, cooperative_id=cooperative_id, kind=kind, params=params, status="queued",
                    progress=0, attempts=0, created_at=utcnow()))
    session.flush()
    log.info("job %s (%s) created [request %s]", job_id, kind, current_request_id.get() or "-")
    return job_id


def submit_job(services, cooperative_id: int, kind: str, params: dict) -> str:
    """Record a job, commit, then hand it to rq or run it inline. Returns the job id.

    Call it outside any open transaction of your own: what the job reads must already be committed.
    """
    with services.db.transaction() as session:
        job_id = create_job(session, cooperative_id, kind, params)
    dispatch_job(services, job_id)
    return job_id


def dispatch_job(services, job_id: str) -> None:
    """Enqueue a committed job on rq, or run it now when no Redis is configured. Never raises for a
    Redis outage: the job stays queued in the database and the worker's recovery sweep finds it."""
    if not services.settings.redis_url:
        execute_job(services, job_id)
        return
    import redis

    try:
        _enqueue(services, job_id)
    except redis.exceptions.RedisError as exc:
        log.warning("job %s is recorded but could not be enqueued (%s); the worker's sweep will run it",
                    job_id, exc)


def redis_connection(services):
    """One Redis client per Services, made on first use (nothing connects at import time)."""
    client = services.extras.get("redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(services.settings.redis_url, socket_connect_timeout=2, socket_timeout=10)
        services.extras["redis"] = client
    return client


def rq_queue(services):
    from rq import Queue

    return Queue(services.settings.rq_queue, connection=redis_connection(services))


def _enqueue(services, job_id: str) -> None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RqJob

    queue = rq_queue(services)
    try:
        # An rq job of that id is a previous dispatch rq still remembers (failed, or orphaned by a dead
        # worker): drop it, so the id names only the run we are about to enqueue.
        RqJob.fetch(job_id, connection=queue.connection).delete()
    except NoSuchJobError:
        pass
    request_id = current_request_id.get()
    queue.enqueue(run_job, job_id, job_id=job_id, job_timeout=JOB_TIMEOUT_S, description=f"job {job_id}",
                  meta={"request_id": request_id} if request_id else None)


# -- running -------------------------------------------------------------------------------------

_worker_services = None
_worker_services_pid: int | None = None


def use_services(services) -> None:
    """Let `run_job` in this process (and processes forked from it) use these Services."""
    global _worker_services, _worker_services_pid
    _worker_services, _worker_services_pid = services, os.getpid()


def run_job(job_id: str):
    """rq's entry point: ids in. Services are built once per process from the environment."""
    global _worker_services_pid
    if _worker_services is None:
        from config import Settings
        from supply.wiring import build_services

        use_services(build_services(Settings.from_env()))
    elif _worker_services_pid != os.getpid():
        # a work horse forked from the worker: pooled connections belong to the parent
        _worker_services.db.engine.dispose(close=False)
        _worker_services.extras.pop("redis", None)
        _worker_services_pid = os.getpid()
    return execute_job(_worker_services, job_id, reraise=True)


def execute_job(services, job_id: str, *, reraise: bool = False) -> str:
    """Claim the job and run its handler. Returns the job's status afterwards, or "skipped" when the
    job was not ours to run (finished, failed, or running elsewhere with a live heartbeat)."""
    claim = _claim(services, job_id)
    if claim is None:
        log.info("job %s: not claimed (done, or running elsewhere)", job_id)
        return "skipped"
    kind, params, attempt = claim
    started = time.monotonic()
    rq_job = _current_rq_job()
    # The request that started the job, carried into its log lines (inline: this very request; on rq:
    # in the rq job's meta). A job run again by the recovery sweep has none.
    request_id = (rq_job.meta.get("request_id") if rq_job is not None else None) or current_request_id.get()
    token = current_request_id.set(request_id)
    try:
        return _execute_claimed(services, job_id, kind, params, attempt, started, rq_job, reraise)
    finally:
        current_request_id.reset(token)


def _execute_claimed(services, job_id, kind, params, attempt, started, rq_job, reraise) -> str:
    log.info("job %s (%s) attempt %d started [request %s]", job_id, kind, attempt, current_request_id.get() or "-")
    beat = _Heartbeat(services, job_id, attempt)
    beat.start()
    try:
        handler = services.job_handlers.get(kind)
        if handler is None:
            raise InvalidInput(f"no handler is registered for jobs of kind {kind!r}", code="unknown_job_kind")
        result = handler(services, job_id, params, _progress_callback(services, job_id, attempt, rq_job))
        result = json.loads(json.dumps({} if result is None else result))
    except Exception as exc:
        beat.stop()
        log.exception("job %s (%s) failed [request %s]", job_id, kind, current_request_id.get() or "-")
        _finish(services, job_id, attempt, status="failed", error=_error_text(exc))
        _count_job(kind, "failed", started)
        if reraise:
            raise
        return "failed"
    beat.stop()
    _finish(services, job_id, attempt, status="finished", result=result)
    _count_job(kind, "finished", started)
    return "finished"


def _count_job(kind: str, state: str, started: float) -> None:
    JOBS.labels(kind, state).inc()
    JOB_SECONDS.labels(kind).observe(time.monotonic() - started)


def _claim(services, job_id: str):
    now = utcnow()
    stale = now - timedelta(seconds=STALE_AFTER_S)
    with services.db.transaction() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, or_(
                Job.status == "queued",
                and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale)),
            ))
            .values(status="running", attempts=Job.attempts + 1, started_at=now, heartbeat_at=now,
                    progress=0, message=None, error=None, result=None, finished_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return None
        row = session.execute(select(Job.kind, Job.params, Job.attempts).where(Job.id == job_id)).one()
    return row.kind, row.params, row.attempts


def _owned(job_id: str, attempt: int):
    """The WHERE clause of a write by the run that claimed `attempt`."""
    return and_(Job.id == job_id, Job.status == "running", Job.attempts == attempt)


def _finish(services, job_id: str, attempt: int, *, status: str, result: dict | None = None,
            error: str | None = None) -> None:
    values = {"status": status, "finished_at": utcnow(), "heartbeat_at": utcnow(), "result": result,
              "error": error}
    if status == "finished":
        values["progress"] = 100
    with services.db.transaction() as session:
        done = session.execute(update(Job).where(_owned(job_id, attempt)).values(**values)
                               .execution_options(synchronize_session=False)).rowcount
    if not done:
        log.warning("job %s: attempt %d lost its claim before finishing; its outcome is not recorded",
                    job_id, attempt)


def _progress_callback(services, job_id: str, attempt: int, rq_job) -> Progress:
    def progress(percent: int, message: str | None = None) -> None:
        percent = max(0, min(100, int(percent)))
        message = None if message is None else str(message)[:500]
        try:
            with services.db.transaction() as session:
                session.execute(update(Job).where(_owned(job_id, attempt))
                                .values(progress=percent, message=message, heartbeat_at=utcnow())
                                .execution_options(synchronize_session=False))
        except Exception:  # a progress report is not worth failing the job for
            log.warning("job %s: could not record progress", job_id, exc_info=True)
        if rq_job is not None:
            try:
                rq_job.meta.update(progress=percent, message=message)
                rq_job.save_meta()
            except Exception:
                log.debug("job %s: could not save rq meta", job_id, exc_info=True)

    return progress


def _current_rq_job():
    try:
        from rq import get_current_job
    except ImportError:
        return None
    return get_current_job()


class _Heartbeat:
    """Refreshes heartbeat_at while a handler runs (a long solver call reports no progress)."""

    def __init__(self, services, job_id: str, attempt: int):
        self._services, self._job_id, self._attempt = services, job_id, attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_INTERVAL_S + 5)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                with self._services.db.transaction() as session:
                    session.execute(update(Job).where(_owned(self._job_id, self._attempt))
                                    .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
            except Exception:
                log.warning("job %s: heartbeat not recorded", self._job_id, exc_info=True)


def _error_text(exc: BaseException) -> str:
    """What a failed job shows the manager: a code and a message, as JSON text. A refusal the services
    word themselves (a DomainError) is shown as worded; anything else by its kind and text only: the
    traceback, with the server's file paths, goes to the log (`execute_job` logs it), never here."""
    if isinstance(exc, DomainError):
        return error_text(exc.code, exc.message)
    return error_text("job_failed", f"the job failed unexpectedly ({type(exc).__name__}: {exc}); "
                                    f"the server log has the details")


def error_text(code: str, message: str) -> str:
    return json.dumps({"code": code, "message": message[:2000]}, ensure_ascii=False)


def error_of(stored: str | None) -> dict | None:
    """The stored error as {"code", "message"} (a row from before errors were stored so: its first line)."""
    if not stored:
        return None
    try:
        error = json.loads(stored)
        if isinstance(error, dict) and {"code", "message"} <= set(error):
            return {"code": str(error["code"]), "message": str(error["message"])}
    except ValueError:
        pass
    return {"code": "job_failed", "message": stored.splitlines()[0][:2000]}


# -- serialising the jobs that must not overlap --------------------------------------------------

def serialise(session, *key) -> None:
    """Hold a lock named by `key` until `session`'s transaction ends, so transactions taking the same
    key run one after the other (e.g. a plan's version taken as the newest + 1 for one hub and day).

    PostgreSQL: a transaction-level advisory lock on a 64-bit digest of the key (released at commit or
    rollback, never left behind by a killed worker). SQLite: every write transaction begins IMMEDIATE
    (supply.db.session), so writers are serialised already and nothing more is needed."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, "big", signed=True)})


# -- recovery ------------------------------------------------------------------------------------

def recover_jobs(services, stale_after_s: float = STALE_AFTER_S, *, queued_grace_s: float = QUEUED_GRACE_S,
                 ) -> list[str]:
    """Dispatch again every job that was lost; return their ids.

    Lost means: queued for more than `queued_grace_s` and not held by rq (or, without Redis, simply
    still queued), or running with a heartbeat older than `stale_after_s`. A stale running job is first
    put back to queued (conditionally, so a concurrent sweep or a late heartbeat wins cleanly); one
    interrupted `MAX_ATTEMPTS` times is marked failed instead. Concurrent sweeps are safe: the claim
    in `execute_job` lets only one run through.
    """
    now = utcnow()
    with services.db.transaction() as session:
        rows = session.execute(
            select(Job.id, Job.status, Job.attempts).where(or_(
                and_(Job.status == "queued", Job.created_at < now - timedelta(seconds=queued_grace_s)),
                and_(Job.status == "running", or_(Job.heartbeat_at.is_(None),
                                                  Job.heartbeat_at < now - timedelta(seconds=stale_after_s))),
            )).order_by(Job.created_at)
        ).all()
    if not rows:
        return []
    in_rq = _rq_holds(services, [r.id for r in rows if r.status == "queued"], stale_after_s)
    lost: list[str] = []
    for row in rows:
        if row.status == "running":
            if not _requeue_stale(services, row.id, row.attempts, now - timedelta(seconds=stale_after_s)):
                continue
        elif row.id in in_rq:
            continue
        lost.append(row.id)
    for job_id in lost:
        log.warning("job %s was lost (Redis emptied, enqueue failed or worker killed): dispatching again",
                    job_id)
        dispatch_job(services, job_id)
    return lost


def _requeue_stale(services, job_id: str, attempts: int, stale_before: datetime) -> bool:
    """Running with a stale heartbeat -> queued again (or failed after too many attempts)."""
    owned_and_stale = and_(Job.id == job_id, Job.status == "running", Job.attempts == attempts,
                           or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before))
    with services.db.transaction() as session:
        if attempts >= MAX_ATTEMPTS:
            session.execute(update(Job).where(owned_and_stale).values(
                status="failed", finished_at=utcnow(),
                error=error_text("interrupted", f"the job was interrupted {attempts} times (worker killed or "
                                                f"timed out); not retried"))
                .execution_options(synchronize_session=False))
            return False
        return bool(session.execute(update(Job).where(owned_and_stale).values(
            status="queued", message=f"its worker stopped answering; run again (attempt {attempts + 1})")
            .execution_options(synchronize_session=False)).rowcount)


def _rq_holds(services, job_ids: list[str], stale_after_s: float) -> set[str]:
    """The ids among `job_ids` that rq will still run: queued in our queue, or started recently."""
    if not job_ids or not services.settings.redis_url:
        return set()
    import redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RqJob, JobStatus

    queue = rq_queue(services)
    held: set[str] = set()
    try:
        for job_id in job_ids:
            try:
                rq_job = RqJob.fetch(job_id, connection=queue.connection)
                status = rq_job.get_status(refresh=False)
            except NoSuchJobError:
                continue
            if status == JobStatus.QUEUED:
                if queue.connection.lpos(queue.key, job_id) is not None:
                    held.add(job_id)
            elif status == JobStatus.STARTED:
                # started but not claimed in the database: only a horse that died before claiming
                started = rq_job.started_at
                if started is None or _aware(started) > utcnow() - timedelta(seconds=stale_after_s):
                    held.add(job_id)
            elif status in (JobStatus.DEFERRED, JobStatus.SCHEDULED):
                held.add(job_id)
    except redis.exceptions.RedisError as exc:
        # Redis is down: enqueueing would fail too; try again on the next sweep
        log.warning("recovery cannot reach Redis (%s)", exc)
        return set(job_ids)
    return held


# -- queries -------------------------------------------------------------------------------------

def get_job(session, cooperative_id: int, job_id: str) -> dict:
    job = session.get(Job, job_id) if isinstance(job_id, str) and len(job_id) <= 36 else None
    if job is None or job.cooperative_id != cooperative_id:
        raise UnknownJob(f"job {job_id} does not exist")
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress, "message": job.message,
        "result": job.result, "error": error_of(job.error), "attempts": job.attempts,
        "created_at": _aware(job.created_at), "started_at": _aware(job.started_at),
        "finished_at": _aware(job.finished_at),
    }


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value

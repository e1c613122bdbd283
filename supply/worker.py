"""`coop worker`: runs background jobs and repairs what was lost.

With REDIS_URL set it is an rq worker on `settings.rq_queue` that forks a work horse per job (rq's
default `Worker`), so a job that crashes or is SIGKILLed takes only its horse down. The recovery sweep
(`supply.jobs.recover_jobs`) runs as one of rq's maintenance tasks: once when the worker starts, then
every `sweep_interval_s` while it waits for work (the dequeue wait is cut to that interval so an idle
worker wakes up for it). It runs in the worker's main thread, never alongside a fork. A worker busy
with a long job sweeps after it; with several workers the idle ones keep sweeping.

Without Redis the worker is a database-polling loop: every `sweep_interval_s` it runs, in the process,
the jobs a crashed web process left queued or running.
"""
from __future__ import annotations

import logging
import time
from typing import Mapping

from config import Settings
from supply import jobs

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 30


def run_worker(settings: Settings, *, burst: bool = False, stale_after_s: float = jobs.STALE_AFTER_S,
               sweep_interval_s: float = SWEEP_INTERVAL_S, queued_grace_s: float = jobs.QUEUED_GRACE_S,
               handlers: Mapping[str, jobs.Handler] | None = None) -> None:
    """Run jobs until stopped (or, with `burst`, until there is nothing left to do). The kinds are
    supply.job_handlers' table, plus `handlers` (kinds of a test suite, say)."""
    from supply.wiring import build_services

    logging.basicConfig(level=settings.log_level)
    services = build_services(settings)
    services.job_handlers.update(handlers or {})
    jobs.use_services(services)
    sweep = dict(stale_after_s=stale_after_s, queued_grace_s=queued_grace_s)
    log.info("worker for %r; job kinds: %s", settings, ", ".join(sorted(services.job_handlers)) or "none")
    try:
        if settings.redis_url:
            _run_rq_worker(services, burst=burst, sweep=sweep, sweep_interval_s=sweep_interval_s)
        else:
            _run_inline_worker(services, burst=burst, sweep=sweep, sweep_interval_s=sweep_interval_s)
    finally:
        services.close()


def _run_rq_worker(services, *, burst: bool, sweep: dict, sweep_interval_s: float) -> None:
    import redis
    from rq import Queue, Worker
    from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL as RQ_MAINTENANCE_S
    from rq.utils import now as rq_now

    class RecoveringWorker(Worker):
        """rq's forking worker whose maintenance tasks include the jobs recovery sweep."""

        @property
        def dequeue_timeout(self) -> int:
            return max(1, min(super().dequeue_timeout, int(sweep_interval_s)))

        _rq_maintained_at: float | None = None

        def run_maintenance_tasks(self):
            # rq's own registry cleaning keeps its ten-minute pace; only the jobs sweep runs every time
            if self._rq_maintained_at is None or time.monotonic() - self._rq_maintained_at >= RQ_MAINTENANCE_S:
                super().run_maintenance_tasks()
                self._rq_maintained_at = time.monotonic()
            else:
                self.last_cleaned_at = rq_now()
            _sweep(services, sweep)

    connection = redis.Redis.from_url(services.settings.redis_url)
    queue = Queue(services.settings.rq_queue, connection=connection)
    worker = RecoveringWorker([queue], connection=connection, maintenance_interval=max(1, int(sweep_interval_s)))
    worker.work(burst=burst, logging_level=services.settings.log_level)


def _run_inline_worker(services, *, burst: bool, sweep: dict, sweep_interval_s: float) -> None:
    while True:
        _sweep(services, sweep)
        if burst:
            return
        time.sleep(sweep_interval_s)


def _sweep(services, sweep: dict) -> None:
    try:
        recovered = jobs.recover_jobs(services, **sweep)
    except Exception:  # a failed sweep must not stop the worker; the next one tries again
        log.exception("jobs recovery sweep failed")
        return
    if recovered:
        log.warning("recovered %d lost job(s): %s", len(recovered), ", ".join(recovered))

"""The service's figures in Prometheus' format (prometheus_client), for operators.

No Flask here: services and jobs count what they do; the web layer serves `/metrics`.

Several processes (`coop serve` workers, `coop worker`) count into one set of figures when
PROMETHEUS_MULTIPROC_DIR names a directory they share (prometheus_client's multiprocess mode; it must
be set before this module is first imported). `coop serve` sets one for its workers when none is set.
Without it each process serves its own figures.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

# Seconds; a request of the spike takes a few milliseconds, a planning job up to minutes.
_REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)

REQUESTS = Counter("coop_http_requests_total", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("coop_http_request_duration_seconds", "Time to answer an HTTP request",
                            ["method", "route"], buckets=_REQUEST_BUCKETS)
ORDERS = Counter("coop_orders_total",
                 "Orders decided at intake, by outcome (reserved, rejected, duplicate, conflict, invalid)",
                 ["outcome"])
PUSHES = Counter("coop_platform_pushes_total", "Platform pushes received, by platform and answer status",
                 ["platform", "status"])
JOBS = Counter("coop_jobs_total", "Background jobs run, by kind and final state", ["kind", "state"])
JOB_SECONDS = Histogram("coop_job_duration_seconds", "Time a background job ran", ["kind"],
                        buckets=_JOB_BUCKETS)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _QueueDepth:
    """Jobs waiting in the rq queue, read at each scrape."""

    def __init__(self, depth):
        self._depth = depth

    def collect(self):
        family = GaugeMetricFamily("coop_job_queue_depth", "Jobs waiting in the rq queue (0 without Redis)")
        try:
            value = float(self._depth())
        except Exception:  # Redis away: the scrape still answers, without this figure
            return
        family.add_metric([], value)
        yield family


def exposition(queue_depth=None) -> bytes:
    """Every figure in the text format; `queue_depth` is a callable read at scrape time."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    if queue_depth is None:
        return generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(_QueueDepth(queue_depth))
    return generate_latest(registry) + generate_latest(extra)


_OUTCOME = {"created": "reserved"}


def count_orders(outcomes) -> None:
    """Count one call's outcomes: one increment per outcome kind, not per order."""
    tally: dict[str, int] = {}
    for outcome in outcomes:
        kind = _OUTCOME.get(outcome.kind, outcome.kind)
        tally[kind] = tally.get(kind, 0) + 1
    for status, n in tally.items():
        ORDERS.labels(status).inc(n)

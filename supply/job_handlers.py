"""Every kind of background job and the function that runs it: the one table `supply.jobs` and the
worker read (through `Services.job_handlers`, which copies it on first use).

A handler is `fn(services, job_id, params, progress) -> dict`, idempotent: a job run twice changes
nothing more than once. A new kind is one line here. A test adds its own kinds to its Services
(`services.job_handlers[kind] = fn`) or hands them to `supply.worker.run_worker(handlers=...)`.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from supply.jobs import Handler
from supply.services.allocation import run_allocation_job
from supply.services.notices import run_notice_job
from supply.services.planning import run_planning_job
from supply.services.platform_links import (
    ORDER_DETAILS_JOB,
    SHIPMENTS_JOB,
    run_order_details_job,
    run_shipments_job,
)

JOB_HANDLERS: Mapping[str, Handler] = MappingProxyType({
    "allocate": run_allocation_job,               # reserved order lines -> farm pickups
    "plan": run_planning_job,                     # a hub's day -> a new dispatch plan version
    "notify_farms": run_notice_job,               # the day's pickup notices by SMS
    ORDER_DETAILS_JOB: run_order_details_job,     # paid platform messages -> orders (details fetched)
    SHIPMENTS_JOB: run_shipments_job,             # waybills sent to the orders' platform
})

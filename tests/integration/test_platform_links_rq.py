"""With Redis, pushes without lines arriving while an order-detail job waits in the queue are served by
that one job: its orders recorded together, none missed."""
from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.conftest import REDIS_URL, require_service
from tests.fakes import DouyinSandbox
from tests.helpers import stocked_farm
from tests.service.test_platform_links import DOUYIN, DY_SKU, figures, link, messages, push_douyin


@pytest.fixture
def queued(db, settings):
    require_service(bool(REDIS_URL), "Redis")
    from supply.app import create_app
    from supply.wiring import build_services

    with DouyinSandbox(DOUYIN) as dy:
        configured = settings.with_(
            redis_url=REDIS_URL, rq_queue=f"links-test-{uuid.uuid4().hex[:8]}",
            rate_limit_key_prefix=f"links-test-{uuid.uuid4().hex[:8]}",
            platform_secrets={**settings.platform_secrets, "douyin": DOUYIN},
            platform_api_urls={"douyin": dy.base_url}, credentials_key=Fernet.generate_key().decode())
        services = build_services(configured, db=db)
        yield create_app(configured, services=services).test_client(), services, dy
        from supply.jobs import rq_queue

        rq_queue(services).delete(delete_jobs=True)
        services.close()


def test_one_queued_job_serves_every_push_that_arrived_while_it_waited(queued, manager):
    from supply import jobs
    from supply.db.models import Job

    client, services, dy = queued
    stocked_farm(client, manager, 4)
    link(client, manager, "douyin", DY_SKU)
    for n in range(6):
        dy.add_order(str(4800000000000000500 + n), [(DY_SKU, 1)])
        assert push_douyin(client, (f"q-{n}", str(4800000000000000500 + n))).status_code == 200
    with services.db.transaction() as session:
        [job_id] = session.execute(select(Job.id).where(Job.kind == "platform_order_details")).scalars().all()
    assert len(messages(client, manager, "needs_order_detail")) == 6

    assert jobs.execute_job(services, job_id) == "finished"   # as a worker runs it
    assert figures(client, manager) == {"available": 0, "reserved": 4}
    assert [m["status"] for m in messages(client, manager)].count("rejected") == 2
    assert dy.calls_of("order.orderDetail") == 6

    dy.add_order("4800000000000000599", [(DY_SKU, 1)])
    push_douyin(client, ("q-late", "4800000000000000599"))   # after the job started: a job of its own
    with services.db.transaction() as session:
        assert len(session.execute(select(Job.id).where(Job.kind == "platform_order_details")).scalars().all()) == 2


def test_the_sync_loop_and_the_queued_job_never_fetch_an_order_twice(queued, manager):
    from supply import jobs
    from supply.db.models import Job
    from supply.services.platform_links import drain_waiting_details

    client, services, dy = queued
    stocked_farm(client, manager, 10)
    link(client, manager, "douyin", DY_SKU)
    for n in range(3):
        dy.add_order(str(4800000000000000800 + n), [(DY_SKU, 2)])
        push_douyin(client, (f"l-{n}", str(4800000000000000800 + n)))
    assert drain_waiting_details(services) == 3          # the loop came first
    with services.db.transaction() as session:
        [job_id] = session.execute(select(Job.id).where(Job.kind == "platform_order_details")).scalars().all()
    assert jobs.execute_job(services, job_id) == "finished"   # then the queued job: nothing left to take
    assert figures(client, manager) == {"available": 4, "reserved": 6}
    assert dy.calls_of("order.orderDetail") == 3
    assert drain_waiting_details(services) == 0


def test_a_drainer_looks_past_messages_others_claimed_and_skips_those_that_failed(queued, manager):
    """A job that starts while another drainer holds the oldest messages takes the newer ones rather
    than stop; a message whose detail failed is left to the manager's list and the retry sweep."""
    from supply.services.platform_links import DETAIL_CONCURRENCY, CLAIM_AHEAD, drain_order_details

    client, services, dy = queued
    stocked_farm(client, manager, 100)
    link(client, manager, "douyin", DY_SKU)
    dy.add_order("4800000000000000900", [(DY_SKU, 1)])
    dy.fail_next(10, "error")   # not retryable: the first message's detail fails at once
    push_douyin(client, ("f-0", "4800000000000000900"))
    assert drain_order_details(services, 1, "douyin", clear_queued=False)["failed"] == 1
    dy.state.faults.clear()
    [failed] = messages(client, manager, "needs_order_detail")
    assert failed["result"]["detail_error"]["code"] == "60000"

    held = DETAIL_CONCURRENCY + CLAIM_AHEAD + 5   # more than one look takes
    for n in range(held + 4):
        dy.add_order(str(4800000000000001000 + n), [(DY_SKU, 1)])
        push_douyin(client, (f"c-{n}", str(4800000000000001000 + n)))
    # another drainer claimed the oldest `held` (as a Redis key per message)
    conn = services.extras["redis"]
    claim = f"{services.settings.rate_limit_key_prefix}:order-detail-claim:"
    waiting = sorted(m["id"] for m in messages(client, manager, "needs_order_detail") if m["id"] != failed["id"])
    for pk in waiting[:held]:
        conn.set(f"{claim}{pk}", "1", ex=60)

    done = drain_order_details(services, 1, "douyin", clear_queued=False)
    assert (done["fetched"], done["failed"]) == (4, 0)
    assert figures(client, manager)["reserved"] == 4
    left = {m["id"] for m in messages(client, manager, "needs_order_detail")}
    assert left == {failed["id"], *waiting[:held]}
    assert dy.calls_of("order.orderDetail") == 1 + 4


def test_a_message_whose_job_was_lost_is_fetched_by_the_retry_sweep(queued, manager):
    """The push's job never ran (its worker died with it, say) and nothing else came for it: the sweep
    of `coop platform-sync` submits it again once it is older than the sweep's interval."""
    from supply import jobs
    from supply.services.platform_links import retry_order_details

    client, services, dy = queued
    stocked_farm(client, manager, 5)
    link(client, manager, "douyin", DY_SKU)
    dy.add_order("4800000000000001500", [(DY_SKU, 2)])
    push_douyin(client, ("lost-0", "4800000000000001500"))
    [waiting] = messages(client, manager, "needs_order_detail")
    assert "detail_error" not in (waiting["result"] or {})
    assert retry_order_details(services, older_than_s=60) == []      # too young: its job may yet run
    [job_id] = retry_order_details(services, older_than_s=0)
    assert jobs.execute_job(services, job_id) == "finished"
    assert figures(client, manager) == {"available": 3, "reserved": 2}
    assert dy.calls_of("order.orderDetail") == 1


def test_the_sync_loop_takes_pushes_as_they_arrive_and_keeps_draining_while_they_come(queued, manager):
    """`coop platform-sync`'s drain loop, running: pushes arriving over a while are each fetched once
    and reserved, with no job run."""
    import threading
    import time

    from supply.services.platform_links import run_detail_drain
    from tests.helpers import wait_for

    client, services, dy = queued
    stocked_farm(client, manager, 20)
    link(client, manager, "douyin", DY_SKU)
    stop = threading.Event()
    loop = threading.Thread(target=run_detail_drain, args=(services, stop), daemon=True)
    loop.start()
    try:
        for n in range(12):
            dy.add_order(str(4800000000000001600 + n), [(DY_SKU, 1)])
            push_douyin(client, (f"sl-{n}", str(4800000000000001600 + n)))
            time.sleep(0.05)
        wait_for(lambda: figures(client, manager)["reserved"] == 12, 20, "the loop to reserve every order")
    finally:
        stop.set()
        loop.join(40)
    assert messages(client, manager, "needs_order_detail") == []
    assert dy.calls_of("order.orderDetail") == 12


def test_a_message_committed_after_a_newer_one_is_not_passed_over(queued, manager, db):
    """Pushes commit side by side, so a message can become visible after one with a higher id that a
    running drainer has already passed: it is found when the drainer looks from the start again."""
    import threading

    from sqlalchemy import text

    from supply.services.platform_links import drain_order_details
    from tests.conftest import PG_URL, require_service
    from tests.helpers import wait_for

    require_service(bool(PG_URL), "PostgreSQL")   # SQLite lets one writer at a time: no such order there
    client, services, dy = queued
    stocked_farm(client, manager, 10)
    link(client, manager, "douyin", DY_SKU)
    for order in ("4800000000000001700", "4800000000000001701"):
        dy.add_order(order, [(DY_SKU, 1)])
    late = db.engine.connect()
    slow = late.begin()   # a push whose transaction takes the lower id and commits last
    late.execute(text("INSERT INTO platform_messages (cooperative_id, platform, message_id, kind, external_order_id, "
                      "status, result, created_at) VALUES (1, 'douyin', 'late-0', 'paid', '4800000000000001700', "
                      "'needs_order_detail', NULL, now())"))
    push_douyin(client, ("early-1", "4800000000000001701"))
    done = {}
    drainer = threading.Thread(target=lambda: done.update(drain_order_details(services, 1, "douyin", max_s=4,
                                                                              clear_queued=False, idle_s=4)))
    drainer.start()
    def late_one_reserved() -> bool:
        return "4800000000000001700" in dy.state.detail_at

    try:
        wait_for(lambda: figures(client, manager)["reserved"] == 1, 10, "the newer message reserved")
        slow.commit()
        # the drainer that passed it goes on running (as under a spike): it finds it all the same
        wait_for(late_one_reserved, 3, "the late message asked of the platform")
    finally:
        late.close()
        drainer.join(30)
    assert done["fetched"] == 2 and dy.calls_of("order.orderDetail") == 2
    assert figures(client, manager)["reserved"] == 2

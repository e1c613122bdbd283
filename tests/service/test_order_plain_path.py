"""The plain path of order intake agrees with the documented schemas, and a lost race is recovered.

POST /orders and /orders/batch read plainly valid bodies without marshmallow (plain_order, in
supply.api.plain_orders) and answer without it (order_out, in supply.api.order_shape). These tests hold
that path to the schemas: whatever it accepts, OrderIn accepts and reads the same way; whatever it
answers, OrderOut would have dumped.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import ValidationError
from sqlalchemy import func, select

from supply.api.order_shape import OrderOut, order_out
from supply.api.orders import OrderIn, to_request
from supply.api.plain_orders import plain_order
from tests.helpers import commit_meanwhile, order, stock_in_service, stocked_farm

# Values near the edges of every rule: types JSON can carry, lengths around the limits, control and
# blank characters, Chinese and emoji, integers around the ranges.
texts = st.one_of(
    st.sampled_from(["", " ", "\u3000", "a\n", "a\x00", "\u200b", "x" * 64, "x" * 65, "x" * 128, "x" * 129,
                     "苦荞挂面", "🍜", "douyin", "DOUYIN", "dou yin", "a-b_c", "x" * 40, "x" * 41]),
    st.text(max_size=8))
integers = st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 1_000_000, 1_000_001, True, False, 1.0, 2.5]),
                     st.integers(-5, 5))
scalars = st.one_of(st.none(), texts, integers)
lines = st.one_of(
    st.fixed_dictionaries({"sku": texts, "quantity": integers}),
    st.dictionaries(st.sampled_from(["sku", "quantity", "qty"]), scalars, max_size=3),
    scalars)
buyers = st.one_of(st.none(), scalars, st.dictionaries(st.sampled_from(["name", "phone", "address", "email"]),
                                                       st.one_of(st.none(), texts), max_size=4))
bodies = st.one_of(
    st.fixed_dictionaries({"platform": texts, "external_id": texts, "lines": st.lists(lines, max_size=3)},
                          optional={"stream_id": st.one_of(st.none(), integers), "buyer": buyers,
                                    "extra": scalars}),
    st.dictionaries(st.sampled_from(["platform", "external_id", "lines", "stream_id"]), scalars, max_size=4),
    scalars, st.lists(scalars, max_size=2))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_what_the_plain_path_accepts_the_schema_accepts_and_reads_the_same(body):
    plain = plain_order(body)
    try:
        full = to_request(OrderIn().load(body))
    except ValidationError:
        full = None
    if plain is not None:
        assert full == plain
    elif full is not None:
        # Stricter is allowed (the schema then reads it), but only for what the plain path declines
        # on purpose: every common valid order must take the plain path.
        assert not (isinstance(body, dict) and set(body) <= {"platform", "external_id", "lines"}
                    and all(isinstance(line, dict) and type(line.get("quantity")) is int
                            and isinstance(line.get("sku"), str) and line["sku"].isascii()
                            and line["sku"].isalnum() for line in body["lines"])
                    and body["platform"].isalnum() and body["external_id"].isalnum()
                    and body["external_id"].isascii())


def test_a_common_order_takes_the_plain_path():
    body = {"platform": "douyin", "external_id": "DY-1", "stream_id": 3,
            "lines": [{"sku": "NOODLE-500", "quantity": 2}],
            "buyer": {"name": "王芳", "phone": "+86 138 0000 0000", "address": None}}
    assert plain_order(body) == to_request(OrderIn().load(body))
    assert plain_order(body).buyer == {"name": "王芳", "phone": "+86 138 0000 0000"}


@pytest.mark.parametrize("extra", [
    {},
    {"short_lines": [{"line": 0, "sku": "A", "requested": 3, "available": 1, "short_by": 2}]},
])
def test_the_plain_answer_is_what_the_schema_dumps(extra):
    body = {"id": 7, "platform": "douyin", "external_id": "DY-1", "stream_id": None, "status": "reserved",
            "created_at": datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone.utc),
            "lines": [{"sku": "A", "quantity": 3, "from_hold": 1, "reserved": 3}], **extra}
    assert order_out(body) == OrderOut().dump(body)


def test_the_http_answer_matches_the_schema_for_new_repeated_and_refused_orders(client, manager):
    stocked_farm(client, manager, 3)
    created = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 2)]), headers=manager)
    again = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 2)]), headers=manager)
    refused = client.post("/api/v1/orders", json=order(external_id="DY-2", lines=[("NOODLE-500", 2)]),
                          headers=manager)
    assert (created.status_code, again.status_code, refused.status_code) == (201, 200, 409)
    assert again.get_json() == created.get_json()
    for body in (created.get_json(), refused.get_json()["error"]["order"]):
        assert OrderOut().load(body) is not None   # every field of the documented shape, nothing else
    assert refused.get_json()["error"]["short_lines"][0]["short_by"] == 1


def test_an_order_stored_by_another_connection_meanwhile_gets_its_first_answer(db, monkeypatch):
    """The lookup of stored orders runs before any lock; an order stored after it is caught at insert."""
    from supply.db.models import Order, OrderLine
    from supply.domain.rules import OrderLineRequest, OrderRequest
    from supply.services import orders as service
    from supply.services.stock import get_availability

    stock_in_service(db)
    first = OrderRequest("douyin", "raced", (OrderLineRequest("A", 2),))
    with db.transaction() as s:
        stored = service.record_orders(s, 1, [first])[0]
    assert stored.kind == "created"

    # As if the lookup had run just before the other connection stored "raced" (on PostgreSQL the
    # orders are inserted before any lookup, so the race is the normal path there).
    if db.engine.dialect.name != "postgresql":
        from supply.services.orders import record

        monkeypatch.setattr(record, "find_many", lambda *_args: {})
    other = OrderRequest("douyin", "other", (OrderLineRequest("A", 3),))
    changed = OrderRequest("douyin", "raced", (OrderLineRequest("A", 1),))
    with db.transaction() as s:
        outcomes = service.record_orders(s, 1, [first, other, changed])
    assert [o.kind for o in outcomes] == ["duplicate", "created", "conflict"]
    assert outcomes[0].order["id"] == stored.order["id"]
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 2
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 2
        assert get_availability(s, 1, "A", farm_names=True)["reserved"] == 5


def test_an_order_in_flight_on_another_connection_is_waited_for_then_answered_as_first_sent(db):
    """PostgreSQL: a second send arriving while the first is still uncommitted waits for it (the
    unique key), then gets the first answer; nothing is reserved twice and nothing deadlocks."""
    import threading

    from supply.domain.rules import OrderLineRequest, OrderRequest
    from supply.services import orders as service
    from supply.services.stock import get_availability

    from tests.conftest import PG_URL, require_service

    require_service(bool(PG_URL), "PostgreSQL (DATABASE_URL)")
    stock_in_service(db, ("A", "B"))
    order_a = OrderRequest("douyin", "in-flight", (OrderLineRequest("A", 2),))
    order_b = OrderRequest("douyin", "beside", (OrderLineRequest("B", 1),))
    first_recorded, release = threading.Event(), threading.Event()
    answers = {}

    def first():
        with db.transaction() as s:
            answers["first"] = service.record_orders(s, 1, [order_a])[0]
            first_recorded.set()
            release.wait(10)

    def second():
        with db.transaction() as s:
            answers["second"] = service.record_orders(s, 1, [order_b, order_a])

    one = threading.Thread(target=first)
    one.start()
    assert first_recorded.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second send must wait for the first transaction"
    release.set()
    one.join(10)
    two.join(10)
    assert answers["first"].kind == "created"
    beside, again = answers["second"]
    assert beside.kind == "created"
    assert again.kind == "duplicate" and again.order["id"] == answers["first"].order["id"]
    with db.transaction() as s:
        assert get_availability(s, 1, "A", farm_names=True)["reserved"] == 2
        assert get_availability(s, 1, "B", farm_names=True)["reserved"] == 1


@pytest.mark.parametrize("meanwhile, expected", [
    ("order", "rejected"),        # decided reserved on the figures read, but another order took the stock
    ("small order", "created"),   # another order took some, and what is left still covers this one
    ("cancel", "created"),        # decided rejected on the figures read, but a cancel gave stock back
])
def test_figures_that_move_before_the_lock_correct_the_decision(db, monkeypatch, meanwhile, expected):
    """PostgreSQL writes the orders before it locks the figures: when another transaction changes the
    figures in between, the order is decided again under the lock and corrected before the commit."""
    from supply.db.models import Order, OrderLine
    from supply.domain.rules import OrderLineRequest, OrderRequest
    from supply.services import orders as service
    from supply.services.stock import get_availability
    from tests.conftest import PG_URL, require_service

    require_service(bool(PG_URL), "PostgreSQL (DATABASE_URL)")
    stock_in_service(db)
    with db.transaction() as s:
        if meanwhile == "cancel":
            early = service.record_orders(s, 1, [OrderRequest("douyin", "early", (OrderLineRequest("A", 3),))])[0]
    late = OrderRequest("douyin", "late", (OrderLineRequest("A", 4),))

    def other_transaction():
        with db.transaction() as s:
            if meanwhile != "cancel":
                units = 3 if meanwhile == "order" else 1
                assert service.record_orders(s, 1, [OrderRequest("douyin", "other", (OrderLineRequest("A", units),))]
                                             )[0].kind == "created"
            else:
                service.cancel_order(s, 1, early.order["id"])

    commit_meanwhile(monkeypatch, other_transaction)
    with db.transaction() as s:
        outcome = service.record_orders(s, 1, [late])[0]
    assert outcome.kind == expected
    with db.transaction() as s:
        stored = s.execute(select(Order).where(Order.external_id == "late")).scalar_one()
        line = s.execute(select(OrderLine).where(OrderLine.order_id == stored.id)).scalar_one()
        availability = get_availability(s, 1, "A", farm_names=True)
        if expected == "rejected":
            assert stored.status == "rejected" and line.reserved == 0
            assert stored.rejection == outcome.order["short_lines"]
            assert outcome.order["short_lines"][0]["available"] == 2
            assert availability["reserved"] == 3
        else:
            assert stored.status == "reserved" and stored.rejection is None and line.reserved == 4
            assert availability["reserved"] == (5 if meanwhile == "small order" else 4)
        assert availability["available"] == 5 - availability["reserved"]


def test_a_deadlock_between_intake_transactions_is_run_again(db, monkeypatch):
    """PostgreSQL: one transaction holds an order's key and waits for the figures, the other holds the
    figures (a push that locks first) and reaches for the same order. PostgreSQL aborts one of them;
    `Database.run` runs it again, and the order is recorded once, with no error for either."""
    import threading
    import time

    from supply.domain.rules import OrderLineRequest, OrderRequest
    from supply.services import orders as service
    from supply.services.orders import postgres
    from supply.services.stock import get_availability
    from tests.conftest import PG_URL, require_service

    require_service(bool(PG_URL), "PostgreSQL (DATABASE_URL)")
    stock_in_service(db)
    order_x = OrderRequest("douyin", "x", (OrderLineRequest("A", 2),))
    figures_locked, key_held = threading.Event(), threading.Event()
    real_insert = postgres._insert_orders_pg

    def insert_and_tell(*args):
        inserted = real_insert(*args)
        if threading.current_thread().name == "holds-the-key":
            key_held.set()
        return inserted

    monkeypatch.setattr(postgres, "_insert_orders_pg", insert_and_tell)
    outcomes, errors = {}, []

    def holds_the_key():
        try:
            outcomes["key"] = db.run(lambda s: service.record_orders(s, 1, [order_x])[0])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def holds_the_figures():
        def work(s):
            service.lock_products(s, 1, {"A"})
            figures_locked.set()
            if key_held.wait(10):
                time.sleep(0.3)   # the other is now waiting for the figures
            return service.record_orders(s, 1, [order_x])[0]
        try:
            outcomes["figures"] = db.run(work)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    figures = threading.Thread(target=holds_the_figures, name="holds-the-figures")
    figures.start()
    assert figures_locked.wait(10)
    key = threading.Thread(target=holds_the_key, name="holds-the-key")
    key.start()
    figures.join(30)
    key.join(30)
    assert not errors, errors
    assert sorted(o.kind for o in outcomes.values()) == ["created", "duplicate"]
    with db.transaction() as s:
        assert get_availability(s, 1, "A", farm_names=True)["reserved"] == 2

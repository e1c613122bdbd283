"""The stock ledger under random sequences of everything that moves stock, checked after every step.

Stock adjustments (declared and confirmed, up and down), stream holds, orders with and without a
stream (and sent twice), cancels, allocation, pickup confirmations with shortfalls and collections
as a driver's stop records them: whatever the order, no figure goes below zero, nothing is promised
twice, the product's figures are the sums of the farms' and of the order lines', the farms' figures
are the sums of their ledger, and a refused operation changes nothing.

It runs through the service functions against the test database (SQLite, or PostgreSQL when
DATABASE_URL names one), each operation in its own transaction as a request would be.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from hypothesis import HealthCheck, Phase, event, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test,
)
from sqlalchemy import func, select

from supply.db.models import (
    FarmStock, LineAllocation, Order, OrderLine, Pickup, ProductBalance, StockLedgerEntry, StreamHold,
)
from supply.domain.errors import DomainError
from supply.domain.rules import OrderLineRequest, OrderRequest
from supply.services.collection import collect_item
from supply.services import allocation, orders, pickups, stock, streams
from supply.services.catalog import FarmInput, ProductInput, register_farm, register_product
from tests.conftest import _clean

COOP = 1
SKUS = ("NOODLE-500", "HONEY-1")
FARMS = 3
DAYS = (date(2026, 11, 24), date(2026, 11, 25))
OPEN = ("proposed", "confirmed")
LEDGER_KINDS = ("declared", "confirmed", "allocated")

small = st.integers(min_value=1, max_value=25)


def snapshot(session) -> dict:
    """Every figure an operation could change (not the rows that only record a refusal)."""
    return {
        "balances": session.execute(select(ProductBalance.product_id, ProductBalance.declared,
                                           ProductBalance.confirmed, ProductBalance.reserved, ProductBalance.held,
                                           ProductBalance.backordered).order_by(ProductBalance.product_id)).all(),
        "farm_stock": session.execute(select(FarmStock.farm_id, FarmStock.product_id, FarmStock.declared,
                                             FarmStock.confirmed, FarmStock.allocated)
                                      .where((FarmStock.declared != 0) | (FarmStock.confirmed != 0)
                                             | (FarmStock.allocated != 0))
                                      .order_by(FarmStock.farm_id, FarmStock.product_id)).all(),
        "holds": session.execute(select(StreamHold.stream_id, StreamHold.product_id, StreamHold.quantity,
                                        StreamHold.remaining).where(StreamHold.quantity != 0)
                                 .order_by(StreamHold.stream_id, StreamHold.product_id)).all(),
        "lines": session.execute(select(OrderLine.id, OrderLine.reserved, OrderLine.from_hold, OrderLine.allocated,
                                        OrderLine.backordered, OrderLine.collected)
                                 .where(OrderLine.reserved + OrderLine.collected > 0).order_by(OrderLine.id)).all(),
        "orders": session.execute(select(Order.id, Order.status).where(Order.status != "rejected")
                                  .order_by(Order.id)).all(),
        "pickups": session.execute(select(Pickup.id, Pickup.quantity, Pickup.quantity_ready,
                                          Pickup.quantity_collected, Pickup.status).order_by(Pickup.id)).all(),
        "allocations": session.execute(select(LineAllocation.id, LineAllocation.quantity)
                                       .order_by(LineAllocation.id)).all(),
        "ledger": session.execute(select(func.count()).select_from(StockLedgerEntry)).scalar(),
    }


class LedgerMachine(RuleBasedStateMachine):
    database = None  # set by the test below

    def __init__(self):
        super().__init__()
        _clean(self.database)
        self.external = 0
        self.sent: list[OrderRequest] = []
        self.order_ids: list[int] = []
        with self.database.transaction() as session:
            self.product_ids = {sku: register_product(session, COOP, ProductInput(
                sku=sku, name=f"{sku} 产品", unit="bag", unit_weight_kg=0.5, unit_volume_l=0.8))["id"]
                for sku in SKUS}
            self.farm_ids = [register_farm(session, COOP, FarmInput(name=f"农户 {i}", lat=42.5, lon=1.5 + i / 100),
                                           None)["id"] for i in range(FARMS)]
            start = datetime(2026, 11, 23, 20, tzinfo=timezone.utc)
            self.stream_ids = [streams.create_stream(session, COOP, platform="douyin", host=f"host {i}",
                                                     starts_at=start)["id"] for i in range(2)]

    # -- helpers --------------------------------------------------------------------------------

    def refused_changes_nothing(self, operation) -> DomainError | None:
        """Run `operation(session)` in a transaction; if it is refused, nothing may have changed."""
        with self.database.transaction() as session:
            before = snapshot(session)
        try:
            with self.database.transaction() as session:
                operation(session)
        except DomainError as refusal:
            with self.database.transaction() as session:
                assert snapshot(session) == before, f"refused ({refusal.code}) but figures changed"
            return refusal
        return None

    def balance(self, sku: str) -> ProductBalance:
        with self.database.transaction() as session:
            return session.get(ProductBalance, self.product_ids[sku])

    def open_pickups(self) -> list:
        with self.database.transaction() as session:
            return session.execute(select(Pickup.id, Pickup.quantity).where(Pickup.status.in_(OPEN))
                                   .order_by(Pickup.id)).all()

    def pickups_ready(self) -> list:
        with self.database.transaction() as session:
            return session.execute(select(Pickup.id, Pickup.quantity_ready - Pickup.quantity_collected)
                                   .where(Pickup.status.in_(("confirmed", "short")),
                                          Pickup.quantity_ready > Pickup.quantity_collected)
                                   .order_by(Pickup.id)).all()

    # -- rules ----------------------------------------------------------------------------------

    @initialize(quantities=st.lists(st.integers(0, 60), min_size=FARMS * len(SKUS), max_size=FARMS * len(SKUS)))
    def farms_have_stock(self, quantities):
        with self.database.transaction() as session:
            for i, quantity in enumerate(quantities):
                farm_id, sku = self.farm_ids[i % FARMS], SKUS[i // FARMS]
                for kind in ("declared", "confirmed"):
                    if quantity:
                        stock.adjust_stock(session, COOP, farm_id=farm_id, sku=sku, delta=quantity, kind=kind,
                                           reason="counted", actor="manager")

    @rule(farm=st.integers(0, FARMS - 1), sku=st.sampled_from(SKUS), kind=st.sampled_from(("declared", "confirmed")),
          delta=st.integers(-30, 40).filter(bool))
    def adjust_stock(self, farm, sku, kind, delta):
        self.refused_changes_nothing(lambda session: stock.adjust_stock(
            session, COOP, farm_id=self.farm_ids[farm], sku=sku, delta=delta, kind=kind, reason="counted",
            actor="manager"))

    @rule(farm=st.integers(0, FARMS - 1), sku=st.sampled_from(SKUS), quantity=st.integers(1, 60))
    def declare_and_confirm(self, farm, sku, quantity):
        for kind in ("declared", "confirmed"):
            refusal = self.refused_changes_nothing(lambda session, kind=kind: stock.adjust_stock(
                session, COOP, farm_id=self.farm_ids[farm], sku=sku, delta=quantity, kind=kind, reason="counted",
                actor="manager"))
            assert refusal is None, refusal.message

    @rule(stream=st.integers(0, 1), sku=st.sampled_from(SKUS), quantity=small)
    def hold(self, stream, sku, quantity):
        b = self.balance(sku)
        available = b.confirmed - b.reserved - b.held + b.backordered
        refusal = self.refused_changes_nothing(lambda session: streams.place_hold(
            session, COOP, self.stream_ids[stream], sku=sku, quantity=quantity))
        if refusal is None:
            assert quantity <= available
        else:
            assert quantity > available, f"hold of {quantity} refused with {available} available"

    @rule(lines=st.lists(st.tuples(st.sampled_from(SKUS), small), min_size=1, max_size=3),
          stream=st.one_of(st.none(), st.integers(0, 1)))
    def order(self, lines, stream):
        self.external += 1
        request = OrderRequest(platform="douyin", external_id=f"o-{self.external}",
                               lines=tuple(OrderLineRequest(sku, q) for sku, q in lines),
                               stream_id=None if stream is None else self.stream_ids[stream])
        with self.database.transaction() as session:
            before = snapshot(session)
        with self.database.transaction() as session:
            (outcome,) = orders.record_orders(session, COOP, [request])
        self.sent.append(request)
        if outcome.kind == "created":
            self.order_ids.append(outcome.order["id"])
        else:
            assert outcome.kind == "rejected", outcome
            with self.database.transaction() as session:
                assert snapshot(session) == before, "a rejected order changed the figures"

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def order_sent_again(self, data):
        request = data.draw(st.sampled_from(self.sent))
        with self.database.transaction() as session:
            before = snapshot(session)
        with self.database.transaction() as session:
            (outcome,) = orders.record_orders(session, COOP, [request])
        assert outcome.kind == "duplicate", outcome
        with self.database.transaction() as session:
            assert snapshot(session) == before, "an order sent again changed the figures"

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def cancel(self, data):
        order_id = data.draw(st.sampled_from(self.order_ids))
        with self.database.transaction() as session:
            assert orders.cancel_order(session, COOP, order_id)["status"] == "cancelled"

    @rule(day=st.sampled_from(DAYS), policy=st.sampled_from(("fair_share", "fewest_stops", "freshest_first")))
    def allocate(self, day, policy):
        with self.database.transaction() as session:
            allocation.allocate(session, COOP, day, policy)

    @precondition(lambda self: self.open_pickups())
    @rule(data=st.data())
    def confirm_pickup(self, data):
        pickup_id, quantity = data.draw(st.sampled_from(self.open_pickups()))
        ready = data.draw(st.one_of(st.just(quantity), st.integers(0, quantity)))
        with self.database.transaction() as session:
            collected = session.get(Pickup, pickup_id).quantity_collected
        refusal = self.refused_changes_nothing(lambda session: pickups.confirm_pickup(
            session, COOP, pickup_id, ready, actor="manager"))
        assert (refusal is not None) == (ready < collected), (ready, collected, refusal)

    @precondition(lambda self: self.open_pickups())
    @rule(data=st.data())
    def confirm_more_than_asked_is_refused(self, data):
        pickup_id, quantity = data.draw(st.sampled_from(self.open_pickups()))
        refusal = self.refused_changes_nothing(lambda session: pickups.confirm_pickup(
            session, COOP, pickup_id, quantity + 1, actor="manager"))
        assert refusal is not None

    @precondition(lambda self: self.pickups_ready())
    @rule(data=st.data())
    def collect(self, data):
        """A driver's stop: what is ready, or part of it when a pickup is split over several trips;
        some of it maybe missing."""
        pickup_id, left = data.draw(st.sampled_from(self.pickups_ready()))
        item = data.draw(st.one_of(st.just(left), st.integers(1, left)))
        got = data.draw(st.one_of(st.just(item), st.integers(0, item)))
        with self.database.transaction() as session:
            pickup = session.execute(select(Pickup).where(Pickup.id == pickup_id).with_for_update()).scalar_one()
            collect_item(session, pickup, item, got, actor="driver:1", ref="stop:test")

    def teardown(self):
        # what the sequence reached (pytest --hypothesis-show-statistics shows how often)
        with self.database.transaction() as session:
            statuses = set(session.execute(select(Pickup.status)).scalars())
            backordered = session.execute(select(func.sum(ProductBalance.backordered))).scalar()
            order_statuses = set(session.execute(select(Order.status)).scalars())
        for status in sorted(statuses):
            event(f"a pickup ended {status}")
        for status in sorted(order_statuses):
            event(f"an order ended {status}")
        if backordered:
            event("units ended backordered")

    @rule(day=st.sampled_from(DAYS), data=st.data())
    def a_day_of_dispatch(self, day, data):
        """Allocate, confirm every open pickup (some farms short), then trucks collect some of it."""
        self.allocate(day, "fair_share")
        for pickup_id, quantity in self.open_pickups():
            ready = data.draw(st.one_of(st.just(quantity), st.integers(0, quantity)))
            with self.database.transaction() as session:
                collected = session.get(Pickup, pickup_id).quantity_collected
                pickups.confirm_pickup(session, COOP, pickup_id, max(ready, collected), actor="manager")
        for _ in range(data.draw(st.integers(0, 3))):
            if self.pickups_ready():
                self.collect(data)

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def figures_add_up(self):
        with self.database.transaction() as session:
            for sku, product_id in self.product_ids.items():
                b = session.get(ProductBalance, product_id)
                figures = dict(declared=b.declared, confirmed=b.confirmed, reserved=b.reserved, held=b.held,
                               backordered=b.backordered)
                assert min(figures.values()) >= 0, (sku, figures)
                assert b.backordered <= b.reserved, (sku, figures)
                available = stock.get_availability(session, COOP, sku, farm_names=True)
                assert available["available"] == b.confirmed - b.reserved - b.held + b.backordered, (sku, available)
                assert available["available"] >= 0, (sku, available)

                farms = session.execute(select(FarmStock).where(FarmStock.product_id == product_id)).scalars().all()
                for f in farms:
                    assert 0 <= f.allocated <= f.confirmed <= f.declared, (sku, f.farm_id, f.__dict__)
                    totals = stock.ledger_totals(session, f.farm_id, product_id)
                    for kind in LEDGER_KINDS:
                        assert getattr(f, kind) == totals.get(kind, 0), (sku, f.farm_id, kind, totals)
                assert b.declared == sum(f.declared for f in farms), sku
                assert b.confirmed == sum(f.confirmed for f in farms), sku

                lines = session.execute(select(OrderLine).where(OrderLine.product_id == product_id)).scalars().all()
                assert b.reserved == sum(line.reserved for line in lines), sku
                assert b.backordered == sum(line.backordered for line in lines), sku
                assert sum(f.allocated for f in farms) == sum(line.allocated for line in lines), sku
                held = session.execute(select(func.coalesce(func.sum(StreamHold.remaining), 0))
                                       .where(StreamHold.product_id == product_id)).scalar()
                assert b.held == held, sku

                for f in farms:
                    owed = 0
                    for p in session.execute(select(Pickup).where(Pickup.farm_id == f.farm_id,
                                                                  Pickup.product_id == product_id)).scalars():
                        if p.status == "proposed":
                            owed += p.quantity - p.quantity_collected
                        elif p.status in ("confirmed", "short"):
                            owed += p.quantity_ready - p.quantity_collected
                    assert f.allocated == owed, (sku, f.farm_id, f.allocated, owed)

    @invariant()
    def orders_account_for_every_unit(self):
        with self.database.transaction() as session:
            for order in session.execute(select(Order)).scalars():
                for line in order.lines:
                    if order.status == "reserved":
                        assert line.reserved + line.collected == line.quantity, (order.id, line.id)
                    else:
                        assert line.reserved == 0 and line.backordered == 0 and line.allocated == 0, (order.id,
                                                                                                    line.id)
            for p in session.execute(select(Pickup)).scalars():
                assert 0 <= p.quantity_collected, p.id
                if p.quantity_ready is not None:
                    assert p.quantity_collected <= p.quantity_ready <= p.quantity, (p.id, p.status)


def test_the_stock_ledger_keeps_every_invariant_under_any_sequence(database):
    LedgerMachine.database = database
    try:
        run_state_machine_as_test(LedgerMachine, settings=settings(
            max_examples=50, stateful_step_count=40, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=list(HealthCheck)))
    finally:
        _clean(database)


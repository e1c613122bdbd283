"""Quality at the farm gate: rejected units with a reason are a shortfall (re-allocated or backordered),
recorded with who rejected them and why, and the taken units are recorded with their grade."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import auth
from tests.farmside import SKU, build, post


def collected(client, tokens, stop_id, body, status=200):
    return post(client, f"/api/v1/stops/{stop_id}/collected", auth(tokens["driver"]), body, status)


def test_rejected_units_are_a_shortfall_re_allocated_to_another_farm_and_the_ledger_says_who_and_why(
        client, manager, db, tokens):
    from supply.db.farmside import FarmGateRecord
    from supply.db.models import Pickup, StockLedgerEntry

    world = build(client, manager, db, tokens)
    first = world["farms"][0]
    asked = world["quantities"][first]
    answer = collected(client, tokens, world["stops"][first], {
        "quantities": [{"sku": SKU, "quantity": asked - 2, "grade": "A"}],
        "rejects": [{"sku": SKU, "quantity": 2, "reason": "damaged", "grade": "B", "note": "袋子破了"}]})
    assert answer["collected"] == {SKU: asked - 2}
    assert answer["rejected"] == {SKU: 2}
    with db.transaction() as s:
        pickup = s.get(Pickup, world["pickups"][first])
        assert (pickup.status, pickup.quantity_ready, pickup.quantity_collected) == ("collected", asked - 2, asked - 2)
        others = s.execute(select(Pickup).where(Pickup.farm_id != first)).scalars().all()
        # The two rejected units now come from the other farms (which had two free units each).
        assert sum(p.quantity for p in others) == 12 - asked + 2
        ledger = s.execute(select(StockLedgerEntry).where(StockLedgerEntry.farm_id == first,
                                                          StockLedgerEntry.reason.like("%rejected%"))).scalars().all()
        assert {e.kind for e in ledger} == {"allocated", "confirmed", "declared"}
        assert all(e.delta == -2 and e.actor == f"driver:{tokens['driver_id']}" for e in ledger)
        assert all("damaged" in e.reason and "grade B" in e.reason for e in ledger)
        records = {r.outcome: r for r in s.execute(select(FarmGateRecord)).scalars()}
        refused = records["rejected"]
        assert (refused.quantity, refused.reason, refused.grade) == (2, "damaged", "B")
        assert (records["accepted"].quantity, records["accepted"].grade) == (asked - 2, "A")
        assert records["rejected"].actor == f"driver:{tokens['driver_id']}"


def test_rejects_beyond_what_other_farms_have_are_backordered_with_their_orders_known(client, manager, db, tokens):
    from supply.db.models import OrderLine, ProductBalance

    world = build(client, manager, db, tokens, orders=9, per_order=2, stock_each=6)  # all 18 units allocated
    first = world["farms"][0]
    asked = world["quantities"][first]
    collected(client, tokens, world["stops"][first], {
        "quantities": [{"sku": SKU, "quantity": asked - 3}],
        "rejects": [{"sku": SKU, "quantity": 1, "reason": "spoiled"},
                    {"sku": SKU, "quantity": 2, "reason": "underweight"}]})
    with db.transaction() as s:
        lines = s.execute(select(OrderLine)).scalars().all()
        assert sum(line.backordered for line in lines) == 3
        assert s.get(ProductBalance, 1).backordered == 3


def test_taken_and_rejected_together_beyond_the_stop_is_refused_and_changes_nothing(client, manager, db, tokens):
    from supply.db.farmside import FarmGateRecord
    from supply.db.models import Pickup

    world = build(client, manager, db, tokens)
    first = world["farms"][0]
    asked = world["quantities"][first]
    error = collected(client, tokens, world["stops"][first], {
        "quantities": [{"sku": SKU, "quantity": asked}],
        "rejects": [{"sku": SKU, "quantity": 1, "reason": "damaged"}]}, status=422)["error"]
    assert error["fields"] == {f"quantities.{SKU}": [f"at most {asked}"]}
    bad = collected(client, tokens, world["stops"][first], {
        "quantities": [], "rejects": [{"sku": SKU, "quantity": 1, "reason": "ugly"}]}, status=422)["error"]
    assert list(bad["fields"]) == ["rejects[0].reason"]
    with db.transaction() as s:
        assert s.get(Pickup, world["pickups"][first]).status == "confirmed"
        assert s.execute(select(FarmGateRecord)).first() is None


def test_a_stop_entirely_rejected_collects_nothing_and_pays_nothing(client, manager, db, tokens):
    from supply.db.models import Pickup

    world = build(client, manager, db, tokens)
    first = world["farms"][0]
    asked = world["quantities"][first]
    answer = collected(client, tokens, world["stops"][first], {
        "quantities": [], "rejects": [{"sku": SKU, "quantity": asked, "reason": "wrong_product"}]})
    assert answer["collected"] == {SKU: 0} and answer["rejected"] == {SKU: asked}
    with db.transaction() as s:
        pickup = s.get(Pickup, world["pickups"][first])
        assert (pickup.quantity_ready, pickup.quantity_collected) == (0, 0)
        assert pickup.status == "collected"

"""Traceability and recall: a farm's product on a day to exactly the orders that received its units,
and back; the recall marks them and holds what is still at the hub; buyers only in the logged export."""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import auth
from tests.farmside import DAY, SKU, build, post


def collect_everything(client, tokens, world) -> dict[int, list[dict]]:
    """Every stop collected in full; the order lines each farm's units went to, as collection said."""
    moved = {}
    for farm_id, stop_id in world["stops"].items():
        answer = post(client, f"/api/v1/stops/{stop_id}/collected", auth(tokens["driver"]),
                      {"quantities": [{"sku": SKU, "quantity": world["quantities"][farm_id]}]}, 200)
        moved[farm_id] = answer["orders"]
    return moved


def test_a_recall_of_one_farm_for_one_day_lists_exactly_the_orders_that_received_its_units(client, manager, db,
                                                                                            tokens):
    world = build(client, manager, db, tokens)
    moved = collect_everything(client, tokens, world)
    farm = world["farms"][1]
    expected = {(m["order_id"], m["order_line_id"], m["quantity"]) for m in moved[farm]}
    assert expected
    recall = post(client, "/api/v1/recalls", manager, {"farm_id": farm, "sku": SKU, "date_from": DAY.isoformat(),
                                                       "date_to": DAY.isoformat(), "reason": "发霉 mould found"})
    assert {(line["order_id"], line["order_line_id"], line["quantity"]) for line in recall["lines"]} == expected
    assert recall["units"] == world["quantities"][farm] == recall["held_at_hub"]
    # and back: each recalled order names this farm among its sources, and the recall
    for order_id in {m["order_id"] for m in moved[farm]}:
        back = client.get(f"/api/v1/trace/orders/{order_id}", headers=manager).get_json()
        assert recall["id"] in back["recalls"]
        assert farm in {source["farm_id"] for source in back["sources"] if source["collected"]}
    recalled = {m["order_id"] for m in moved[farm]}
    untouched = {m["order_id"] for f, ms in moved.items() if f != farm for m in ms} - recalled
    for order_id in untouched:
        assert client.get(f"/api/v1/trace/orders/{order_id}", headers=manager).get_json()["recalls"] == []
    # The day before had nothing from this farm.
    other_day = client.get("/api/v1/trace/farm-units", headers=manager, query_string={
        "farm_id": farm, "sku": SKU, "date_from": "2026-11-01", "date_to": "2026-11-29"}).get_json()
    assert other_day == []


def test_units_still_at_the_hub_are_held_from_dispatch_and_shipped_ones_are_not(client, manager, db, tokens):
    from supply.db.platform_links import PlatformShipment
    from supply.domain.errors import Conflict
    from supply.services.recall import held_orders, refuse_if_held

    world = build(client, manager, db, tokens)
    moved = collect_everything(client, tokens, world)
    farm = world["farms"][0]
    orders = sorted({m["order_id"] for m in moved[farm]})
    shipped, waiting = orders[0], orders[1:]
    with db.transaction() as s:
        s.add(PlatformShipment(cooperative_id=1, order_id=shipped, carrier_code="zto", waybill="ZT1",
                               status="confirmed", attempts=1))
    recall = post(client, "/api/v1/recalls", manager, {"farm_id": farm, "sku": SKU, "date_from": DAY.isoformat(),
                                                       "date_to": DAY.isoformat(), "reason": "spoiled"})
    by_order = {}
    for line in recall["lines"]:
        by_order[line["order_id"]] = by_order.get(line["order_id"], 0) + line["held_at_hub"]
    assert by_order[shipped] == 0 and all(by_order[o] > 0 for o in waiting)
    with db.transaction() as s:
        assert held_orders(s, set(orders)) == set(waiting)
        refuse_if_held(s, shipped)
        with pytest.raises(Conflict):
            refuse_if_held(s, waiting[0])


def test_buyers_appear_only_in_the_managers_export_with_buyers_and_every_export_is_logged(client, manager, db,
                                                                                          tokens):
    world = build(client, manager, db, tokens)
    collect_everything(client, tokens, world)
    farm = world["farms"][0]
    recall = post(client, "/api/v1/recalls", manager, {"farm_id": farm, "sku": SKU, "date_from": DAY.isoformat(),
                                                       "date_to": DAY.isoformat(), "reason": "damaged"})
    assert "买家" not in str(recall) and "某县某村" not in str(recall)
    plain = client.get(f"/api/v1/recalls/{recall['id']}/orders.csv", headers=manager).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(plain)))
    assert rows[0][:3] == ["平台", "平台订单号", "订单号"] and "买家" not in plain and "某县某村" not in plain
    assert {r[1] for r in rows[1:]} == {line["platform_order_id"] for line in recall["lines"]}
    full = client.get(f"/api/v1/recalls/{recall['id']}/orders.csv?with_buyers=true", headers=manager)
    rows = list(csv.reader(io.StringIO(full.get_data(as_text=True))))
    assert rows[0][-3:] == ["买家", "买家电话", "买家地址"] and all(r[-1].startswith("某县某村") for r in rows[1:])
    log = client.get("/api/v1/personal-data-exports", headers=manager).get_json()
    assert [(e["with_buyers"], e["recall_id"], e["rows"]) for e in log] == [
        (True, recall["id"], len(rows) - 1), (False, recall["id"], len(rows) - 1)]
    for role in ("host", "driver"):
        for path in (f"/api/v1/recalls/{recall['id']}", f"/api/v1/recalls/{recall['id']}/orders.csv?with_buyers=1",
                     "/api/v1/personal-data-exports"):
            assert client.get(path, headers=auth(tokens[role])).status_code == 403
    assert len(client.get("/api/v1/personal-data-exports", headers=manager).get_json()) == 2


def test_a_recall_of_an_unknown_farm_or_a_reversed_range_is_refused_and_records_nothing(client, manager, db, tokens):
    build(client, manager, db, tokens)
    missing = client.post("/api/v1/recalls", headers=manager, json={
        "farm_id": 9999, "sku": SKU, "date_from": "2026-11-30", "date_to": "2026-11-30", "reason": "x"})
    assert missing.status_code == 404
    reversed_ = client.post("/api/v1/recalls", headers=manager, json={
        "farm_id": 1, "sku": SKU, "date_from": "2026-11-30", "date_to": "2026-11-01", "reason": "x"})
    assert reversed_.status_code == 422 and reversed_.get_json()["error"]["fields"] == {
        "date_to": ["must not be before date_from"]}
    assert client.get("/api/v1/recalls/1", headers=manager).status_code == 404


def test_a_recall_before_collection_names_no_order_and_counts_the_units_still_at_the_farm(client, manager, db,
                                                                                          tokens):
    world = build(client, manager, db, tokens)
    farm = world["farms"][2]
    recall = post(client, "/api/v1/recalls", manager, {"farm_id": farm, "sku": SKU, "date_from": DAY.isoformat(),
                                                       "date_to": DAY.isoformat(), "reason": "suspected"})
    assert (recall["orders"], recall["units"], recall["held_at_hub"]) == (0, 0, 0)
    assert recall["waiting_at_farm"] == world["quantities"][farm]


def test_a_waybill_for_an_order_holding_recalled_units_is_refused_and_other_orders_ship(client, manager, db, tokens):
    world = build(client, manager, db, tokens)
    moved = collect_everything(client, tokens, world)
    farm = world["farms"][0]
    recall = post(client, "/api/v1/recalls", manager, {"farm_id": farm, "sku": SKU, "date_from": DAY.isoformat(),
                                                       "date_to": DAY.isoformat(), "reason": "mould"})
    held = recall["lines"][0]["order_id"]
    refused = client.put(f"/api/v1/orders/{held}/shipment", headers=manager,
                         json={"carrier_code": "zto", "waybill": "ZT100"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "recalled"
    assert client.get(f"/api/v1/orders/{held}/shipment", headers=manager).status_code == 404
    free = sorted({m["order_id"] for f, ms in moved.items() if f != farm for m in ms}
                  - {line["order_id"] for line in recall["lines"]})[0]
    shipped = client.put(f"/api/v1/orders/{free}/shipment", headers=manager,
                         json={"carrier_code": "zto", "waybill": "ZT101"})
    assert shipped.status_code == 200, shipped.get_json()

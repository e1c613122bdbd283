"""Order intake through the HTTP API, with exactly the semantics of API.md."""
from __future__ import annotations

from tests.helpers import make_product, order, stock, stocked_farm


def availability(client, headers, sku="NOODLE-500", **query):
    response = client.get(f"/api/v1/products/{sku}/availability", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def setup_stock(client, manager, quantity=10):
    farm = stocked_farm(client, manager, quantity)
    return farm


def test_an_order_within_stock_is_reserved(client, manager):
    setup_stock(client, manager, 10)
    response = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 4)]), headers=manager)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "reserved"
    assert body["lines"] == [{"sku": "NOODLE-500", "quantity": 4, "from_hold": 0, "reserved": 4}]
    figures = availability(client, manager)
    assert (figures["available"], figures["reserved"], figures["confirmed"]) == (6, 4, 10)


def test_the_same_order_sent_again_returns_the_first_answer_and_changes_nothing(client, manager):
    setup_stock(client, manager, 10)
    first = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 4)]), headers=manager)
    again = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 4)]), headers=manager)
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert availability(client, manager)["reserved"] == 4


def test_the_same_id_with_another_body_is_a_conflicting_duplicate(client, manager):
    setup_stock(client, manager, 10)
    client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 4)]), headers=manager)
    response = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 5)]), headers=manager)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflicting_duplicate"
    assert availability(client, manager)["reserved"] == 4


def test_an_order_short_on_any_line_reserves_nothing_and_says_which_line(client, manager):
    farm = setup_stock(client, manager, 10)
    make_product(client, manager, sku="HONEY-1", name="蜂蜜 1 kg", unit="jar", unit_weight_kg=1.2)
    stock(client, manager, farm["id"], "HONEY-1", 2)
    response = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 5), ("HONEY-1", 3)]),
                           headers=manager)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["short_lines"] == [{"line": 1, "sku": "HONEY-1", "requested": 3, "available": 2, "short_by": 1}]
    assert "lines[1].quantity" in error["fields"]
    assert availability(client, manager)["reserved"] == 0
    assert availability(client, manager, sku="HONEY-1")["reserved"] == 0
    # Resent, the refused order gets its first answer, and still reserves nothing.
    again = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 5), ("HONEY-1", 3)]), headers=manager)
    assert again.status_code == 200 and again.get_json()["status"] == "rejected"
    assert availability(client, manager)["reserved"] == 0


def test_cancel_releases_what_the_order_held_and_is_idempotent(client, manager):
    setup_stock(client, manager, 10)
    created = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 7)]), headers=manager).get_json()
    for _ in range(2):
        response = client.post(f"/api/v1/orders/{created['id']}/cancel", headers=manager)
        assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert availability(client, manager)["available"] == 10


def test_orders_from_a_stream_draw_first_on_its_hold(client, manager, host):
    setup_stock(client, manager, 10)
    stream = client.post("/api/v1/streams", headers=host, json={
        "platform": "douyin", "host": "县长 Wang", "starts_at": "2026-11-23T20:00:00+08:00"}).get_json()
    hold = client.post(f"/api/v1/streams/{stream['id']}/holds", headers=host, json={"sku": "NOODLE-500", "quantity": 6})
    assert hold.status_code == 201
    assert availability(client, host)["available"] == 4
    # Another buyer, outside the stream, cannot take the held bags.
    outside = client.post("/api/v1/orders", json=order(external_id="x", lines=[("NOODLE-500", 5)]), headers=manager)
    assert outside.status_code == 409
    inside = client.post("/api/v1/orders", headers=manager,
                         json=order(external_id="s", lines=[("NOODLE-500", 8)], stream_id=stream["id"]))
    assert inside.status_code == 201
    assert inside.get_json()["lines"][0]["from_hold"] == 6
    figures = availability(client, host, stream_id=stream["id"])
    assert (figures["available"], figures["held"], figures["reserved"], figures["held_for_stream"]) == (2, 0, 8, 0)
    # Cancel gives the held part back to the stream's hold.
    client.post(f"/api/v1/orders/{inside.get_json()['id']}/cancel", headers=manager)
    figures = availability(client, host, stream_id=stream["id"])
    assert (figures["available"], figures["held"], figures["held_for_stream"]) == (4, 6, 6)


def test_a_hold_beyond_what_is_available_is_refused(client, manager, host):
    setup_stock(client, manager, 3)
    stream = client.post("/api/v1/streams", headers=host, json={
        "platform": "kuaishou", "host": "Li", "starts_at": "2026-11-23T20:00:00+08:00"}).get_json()
    response = client.post(f"/api/v1/streams/{stream['id']}/holds", headers=host, json={"sku": "NOODLE-500", "quantity": 4})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "insufficient_stock"
    assert availability(client, host)["held"] == 0


def test_a_batch_answers_each_order_on_its_own(client, manager):
    setup_stock(client, manager, 5)
    batch = {"orders": [
        order(external_id="a", lines=[("NOODLE-500", 3)]),
        order(external_id="b", lines=[("NOODLE-500", 3)]),       # short now
        order(external_id="a", lines=[("NOODLE-500", 3)]),       # resent
        {"platform": "douyin", "external_id": "c", "lines": [{"sku": "NOODLE-500", "quantity": 0}]},
        order(external_id="d", lines=[("NOPE", 1)]),
        order(external_id="e", lines=[("NOODLE-500", 2)]),
    ]}
    response = client.post("/api/v1/orders/batch", json=batch, headers=manager)
    assert response.status_code == 200
    statuses = [r["status"] for r in response.get_json()["results"]]
    assert statuses == [201, 409, 200, 422, 422, 201]
    results = response.get_json()["results"]
    assert "lines[0].quantity" in results[3]["error"]["fields"]
    assert "lines[0].sku" in results[4]["error"]["fields"]
    assert availability(client, manager)["reserved"] == 5


def test_get_order_shows_lines_and_buyer_to_the_manager(client, manager):
    setup_stock(client, manager, 5)
    body = order(lines=[("NOODLE-500", 2)])
    body["buyer"] = {"name": "张三", "phone": "13800000000", "address": "湖北省 十堰市"}
    created = client.post("/api/v1/orders", json=body, headers=manager).get_json()
    response = client.get(f"/api/v1/orders/{created['id']}", headers=manager)
    assert response.status_code == 200
    assert response.get_json()["buyer"]["name"] == "张三"
    assert "buyer" not in created


def test_a_cancel_that_arrives_before_its_order_keeps_the_order_from_reserving(db):
    from supply.domain.rules import OrderLineRequest, OrderRequest
    from supply.services.catalog import FarmInput, ProductInput, register_farm, register_product
    from supply.services.orders import cancel_order_by_external_id, record_orders
    from supply.services.stock import adjust_stock, get_availability

    with db.transaction() as s:
        farm = register_farm(s, 1, FarmInput(name="f", lat=1, lon=1), None)
        register_product(s, 1, ProductInput(sku="A", name="a", unit="bag", unit_weight_kg=1, unit_volume_l=1))
        for kind in ("declared", "confirmed"):
            adjust_stock(s, 1, farm_id=farm["id"], sku="A", delta=5, kind=kind, reason="r", actor="t")
    with db.transaction() as s:
        assert cancel_order_by_external_id(s, 1, "douyin", "late")["status"] == "cancelled"
    with db.transaction() as s:
        (outcome,) = record_orders(s, 1, [OrderRequest("douyin", "late", (OrderLineRequest("A", 2),))])
    assert outcome.kind == "duplicate" and outcome.order["status"] == "cancelled"
    with db.transaction() as s:
        assert get_availability(s, 1, "A", farm_names=True)["reserved"] == 0

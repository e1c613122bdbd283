"""A paid event the service could not record by itself (Douyin's pushes never carry lines; a product
not mapped to a SKU) is completed by a manager with the order's lines: the order is recorded and the
message settles. Pushes are signed as Douyin signs them, the sign computed here."""
from __future__ import annotations

import hashlib
import json
import threading

import pytest

from tests.helpers import stocked_farm

APP_KEY = "7012345678901234567"
APP_SECRET = "dy-app-secret-5f2c"
SKU = "NOODLE-500"


@pytest.fixture
def douyin(db, settings):
    """A client of an app that also takes Douyin's pushes."""
    from supply.app import create_app
    from supply.wiring import build_services

    configured = settings.with_(platform_secrets={**settings.platform_secrets,
                                                  "douyin": {"app_key": APP_KEY, "app_secret": APP_SECRET}})
    return create_app(configured, services=build_services(configured, db=db)).test_client()


def push(client, *messages):
    raw = json.dumps(list(messages), ensure_ascii=False).encode()
    sign = hashlib.md5(APP_KEY.encode() + raw + APP_SECRET.encode()).hexdigest()
    response = client.post("/api/v1/webhooks/douyin", data=raw,
                           headers={"app-id": APP_KEY, "event-sign": sign, "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_json()
    return response


def paid(msg_id: str, order_id: int, pay_time: int = 1718712060) -> dict:
    return {"tag": "101", "msg_id": msg_id, "data": json.dumps({
        "p_id": order_id, "s_ids": [order_id + 1], "shop_id": 77977, "order_status": 2, "order_type": 0,
        "pay_time": pay_time, "pay_amount": 1990, "pay_type": 1, "biz": 2})}


def cancelled(msg_id: str, order_id: int, cancel_time: int) -> dict:
    return {"tag": "106", "msg_id": msg_id, "data": json.dumps({
        "p_id": order_id, "s_ids": [order_id + 1], "shop_id": 77977, "order_status": 4,
        "cancel_time": cancel_time, "cancel_reason": "买家不想要了"})}


def awaiting(client, manager) -> list[dict]:
    return client.get("/api/v1/platform-messages?status=needs_order_detail", headers=manager).get_json()


def complete(client, manager, message_pk: int, quantity: int = 2, sku: str = SKU, **extra):
    return client.post(f"/api/v1/platform-messages/{message_pk}/order", headers=manager,
                       json={"lines": [{"sku": sku, "quantity": quantity}], **extra})


def figures(client, manager) -> dict:
    body = client.get(f"/api/v1/products/{SKU}/availability", headers=manager).get_json()
    return {k: body[k] for k in ("available", "reserved")}


def test_a_paid_douyin_order_is_recorded_once_a_manager_gives_its_lines(douyin, manager):
    stocked_farm(douyin, manager, 10)
    push(douyin, paid("m-1", 4837328765348566675))
    [message] = awaiting(douyin, manager)
    assert (message["kind"], message["external_order_id"]) == ("paid", "4837328765348566675")
    assert figures(douyin, manager)["reserved"] == 0

    response = complete(douyin, manager, message["id"], quantity=3)
    assert response.status_code == 200, response.get_json()
    done = response.get_json()
    assert (done["id"], done["status"], done["result"]["order_status"]) == (message["id"], "applied", "reserved")
    order = douyin.get(f"/api/v1/orders/{done['result']['order_id']}", headers=manager).get_json()
    assert (order["platform"], order["external_id"], order["status"]) == ("douyin", "4837328765348566675", "reserved")
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [(SKU, 3)]
    assert figures(douyin, manager) == {"available": 7, "reserved": 3}
    assert awaiting(douyin, manager) == []

    # Completed once: again is refused and changes nothing; the push sent again is a duplicate.
    again = complete(douyin, manager, message["id"], quantity=3)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_awaiting_lines"
    resent = push(douyin, paid("m-1", 4837328765348566675)).get_json()
    assert resent == {"code": 0, "msg": "success"}
    assert figures(douyin, manager) == {"available": 7, "reserved": 3}


def test_lines_naming_an_unknown_sku_are_refused_and_change_nothing(douyin, manager):
    stocked_farm(douyin, manager, 10)
    push(douyin, paid("m-1", 111))
    [message] = awaiting(douyin, manager)
    response = complete(douyin, manager, message["id"], sku="NO-SUCH-SKU")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unknown_reference" and "lines[0].sku" in error["fields"]
    assert awaiting(douyin, manager) == [message]
    assert figures(douyin, manager)["reserved"] == 0
    bad = douyin.post(f"/api/v1/platform-messages/{message['id']}/order", headers=manager, json={"lines": []})
    assert bad.status_code == 422 and "lines" in bad.get_json()["error"]["fields"]
    assert awaiting(douyin, manager) == [message]


def test_an_order_short_of_stock_settles_the_message_as_rejected(douyin, manager):
    stocked_farm(douyin, manager, 2)
    push(douyin, paid("m-1", 222))
    [message] = awaiting(douyin, manager)
    done = complete(douyin, manager, message["id"], quantity=5).get_json()
    assert done["status"] == "rejected"
    assert done["result"]["error"]["code"] == "insufficient_stock"
    assert figures(douyin, manager) == {"available": 2, "reserved": 0}


def test_a_payment_whose_order_was_cancelled_later_is_stale_and_reserves_nothing(douyin, manager):
    stocked_farm(douyin, manager, 10)
    push(douyin, paid("m-1", 333, pay_time=1718712060), cancelled("m-2", 333, cancel_time=1718712600))
    [message] = awaiting(douyin, manager)
    done = complete(douyin, manager, message["id"]).get_json()
    # The cancel settled the order at a later time than the payment: the payment is stale now.
    assert done["status"] == "stale"
    assert figures(douyin, manager)["reserved"] == 0


def test_an_order_recorded_another_way_settles_the_message_as_a_duplicate(douyin, manager):
    stocked_farm(douyin, manager, 10)
    push(douyin, paid("m-1", 444))
    recorded = douyin.post("/api/v1/orders", headers=manager, json={
        "platform": "douyin", "external_id": "444", "lines": [{"sku": SKU, "quantity": 2}]}).get_json()
    [message] = awaiting(douyin, manager)
    done = complete(douyin, manager, message["id"], quantity=2).get_json()
    assert (done["status"], done["result"]["order_id"]) == ("duplicate_order", recorded["id"])
    other = complete(douyin, manager, message["id"], quantity=2)
    assert other.status_code == 409
    assert figures(douyin, manager)["reserved"] == 2


def test_only_paid_events_awaiting_a_manager_can_be_completed(douyin, manager):
    stocked_farm(douyin, manager, 10)
    push(douyin, {"tag": "100", "msg_id": "m-created", "data": json.dumps({
        "p_id": 555, "s_ids": [556], "shop_id": 77977, "order_status": 1, "create_time": 1718712000})})
    [created] = douyin.get("/api/v1/platform-messages", headers=manager).get_json()
    assert created["status"] == "recorded"
    response = complete(douyin, manager, created["id"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_awaiting_lines"
    missing = complete(douyin, manager, created["id"] + 1000)
    assert missing.status_code == 404
    assert figures(douyin, manager)["reserved"] == 0


def test_an_unmapped_product_is_completed_the_same_way(client, manager, db):
    from supply.platforms import PlatformEvent, PlatformLine
    from supply.services.platform_messages import apply_platform_events

    stocked_farm(client, manager, 10)
    event = PlatformEvent(platform="youzan", message_id="yz-1", kind="paid", external_order_id="E2026",
                          version=1, lines=(PlatformLine("yz-item-9", 2),))
    with db.transaction() as session:
        [result] = apply_platform_events(session, 1, [event], refs_are_skus=False)
    assert result["status"] == "unmapped"
    [message] = client.get("/api/v1/platform-messages?status=unmapped", headers=manager).get_json()
    done = complete(client, manager, message["id"], quantity=2).get_json()
    assert (done["status"], done["result"]["order_status"]) == ("applied", "reserved")
    assert figures(client, manager)["reserved"] == 2


def test_two_managers_completing_one_message_at_once_record_it_once(douyin, manager, db):
    stocked_farm(douyin, manager, 10)
    push(douyin, paid("m-1", 666))
    [message] = awaiting(douyin, manager)
    barrier = threading.Barrier(2)
    answers = []

    def one(quantity):
        barrier.wait()
        answers.append(complete(douyin, manager, message["id"], quantity=quantity))

    threads = [threading.Thread(target=one, args=(q,)) for q in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [a.get_json() for a in answers]
    done = next(a.get_json() for a in answers if a.status_code == 200)
    order = douyin.get(f"/api/v1/orders/{done['result']['order_id']}", headers=manager).get_json()
    assert figures(douyin, manager)["reserved"] == order["lines"][0]["quantity"]

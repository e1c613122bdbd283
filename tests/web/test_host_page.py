"""The host's page: her stream's products with what may be promised, held and sold; holds placed and
released; the figures polled with ETags; never a buyer or a farm."""
from __future__ import annotations

import re

from tests.conftest import auth
from tests.helpers import make_farm, make_product, order, stock
from tests.web.conftest import EVIL, csrf_of, sign_in


def _stream(client, manager) -> int:
    response = client.post("/api/v1/streams", headers=manager, json={
        "platform": "douyin", "host": "小芳", "title": "苦荞面专场", "starts_at": "2026-11-29T19:00:00+08:00"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _setup(client, tokens):
    manager = auth(tokens["manager"])
    farm = make_farm(client, manager, name=EVIL)
    make_product(client, manager)
    stock(client, manager, farm["id"], "NOODLE-500", 100)
    stream_id = _stream(client, manager)
    client.post("/api/v1/orders", headers={**manager, "Idempotency-Key": "k1"},
                json={**order(external_id="o-1", lines=(("NOODLE-500", 4),), stream_id=stream_id),
                      "buyer": {"name": "买家张三", "phone": "+86 138 1234 5678"}})
    return stream_id


def _row(page: str, sku: str) -> dict:
    row = re.search(rf'<tr data-sku="{sku}">(.*?)</tr>', page, re.S).group(1)
    return {k: int(re.search(rf'class="num {k}">([\d,]+)<', row).group(1).replace(",", ""))
            for k in ("available", "held", "sold")}


def test_the_host_sees_available_held_and_sold_but_no_buyer_and_no_farm(client, tokens):
    stream_id = _setup(client, tokens)
    sign_in(client, tokens["host"])
    page = client.get(f"/h/streams/{stream_id}").get_data(as_text=True)
    assert _row(page, "NOODLE-500") == {"available": 96, "held": 0, "sold": 4}
    assert "苦荞面专场" in page and "实时" in page
    for secret in ("买家张三", "1234 5678", "alert(1)", "马家庄"):
        assert secret not in page
    listed = client.get("/h/").get_data(as_text=True)
    assert f"/h/streams/{stream_id}" in listed


def test_a_hold_placed_and_released_moves_the_figures_and_too_much_is_refused(client, tokens):
    stream_id = _setup(client, tokens)
    sign_in(client, tokens["host"])
    page = client.get(f"/h/streams/{stream_id}").get_data(as_text=True)
    csrf = csrf_of(page)
    held = client.post(f"/h/streams/{stream_id}/hold", data={"sku": "NOODLE-500", "quantity": "30",
                                                            "csrf_token": csrf})
    assert held.status_code == 302
    page = client.get(f"/h/streams/{stream_id}").get_data(as_text=True)
    assert _row(page, "NOODLE-500") == {"available": 66, "held": 30, "sold": 4} and "已预留。" in page
    released = client.post(f"/h/streams/{stream_id}/release", data={"sku": "NOODLE-500", "quantity": "10",
                                                                   "csrf_token": csrf})
    assert released.status_code == 302
    assert _row(client.get(f"/h/streams/{stream_id}").get_data(as_text=True), "NOODLE-500")["held"] == 20
    too_many = client.post(f"/h/streams/{stream_id}/hold", data={"sku": "NOODLE-500", "quantity": "1000",
                                                                "csrf_token": csrf})
    assert too_many.status_code == 409 and "库存不足" in too_many.get_data(as_text=True)
    over_release = client.post(f"/h/streams/{stream_id}/release", data={"sku": "NOODLE-500", "quantity": "21",
                                                                       "csrf_token": csrf})
    assert over_release.status_code == 422
    not_a_number = client.post(f"/h/streams/{stream_id}/hold", data={"sku": "NOODLE-500", "quantity": "x",
                                                                    "csrf_token": csrf})
    assert not_a_number.status_code == 422
    assert _row(client.get(f"/h/streams/{stream_id}").get_data(as_text=True), "NOODLE-500") == \
        {"available": 76, "held": 20, "sold": 4}


def test_the_figures_are_polled_with_an_etag_and_answer_304_while_unchanged(client, tokens):
    stream_id = _setup(client, tokens)
    sign_in(client, tokens["host"])
    first = client.get(f"/h/streams/{stream_id}/stock.json")
    assert first.status_code == 200 and first.get_json()[0]["available"] == 96
    assert "farm" not in first.get_data(as_text=True)
    etag = first.headers["ETag"]
    assert client.get(f"/h/streams/{stream_id}/stock.json", headers={"If-None-Match": etag}).status_code == 304
    client.post("/api/v1/orders", headers=auth(tokens["manager"]),
                json=order(external_id="o-2", lines=(("NOODLE-500", 1),), stream_id=stream_id))
    changed = client.get(f"/h/streams/{stream_id}/stock.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()[0]["available"] == 95


def test_a_driver_is_refused_the_hosts_page(client, db, tokens):
    from supply.services.web import create_link

    stream_id = _setup(client, tokens)
    with db.transaction() as session:
        link = create_link(session, 1, role="driver", driver_id=tokens["driver_id"])
    client.get(f"/s/{link['token']}")
    assert client.get(f"/h/streams/{stream_id}").status_code == 403
    assert client.get(f"/h/streams/{stream_id}/stock.json").status_code == 403

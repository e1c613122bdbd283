"""The host's phone in a real browser: availability falls on the page while orders are pushed."""
from __future__ import annotations

import requests

from tests.conftest import auth
from tests.helpers import make_farm, make_product, order, stock
from tests.web.browser import PHONE


def _available(page) -> int:
    return int(page.locator('tr[data-sku="NOODLE-500"] .available').inner_text().replace(",", ""))


def test_the_host_watches_availability_fall_while_orders_arrive(client, tokens, served, browser):
    manager = auth(tokens["manager"])
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], "NOODLE-500", 500)
    stream = client.post("/api/v1/streams", headers=manager, json={
        "platform": "douyin", "host": "小芳", "starts_at": "2026-11-29T19:00:00+08:00"}).get_json()
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{served}/signin")
    page.fill("input[name=token]", tokens["host"])
    page.click("button[type=submit]")
    page.goto(f"{served}/h/streams/{stream['id']}")
    assert _available(page) == 500
    for n in range(5):
        body = order(external_id=f"spike-{n}", lines=(("NOODLE-500", 20),), stream_id=stream["id"])
        assert requests.post(f"{served}/api/v1/orders", json=body, headers=manager, timeout=10).status_code == 201
        expected = 500 - 20 * (n + 1)
        page.locator(f'tr[data-sku="NOODLE-500"] .available:text-is("{expected}")').wait_for(timeout=5000)
        assert page.locator('tr[data-sku="NOODLE-500"] .sold').inner_text() == str(20 * (n + 1))
    context.close()

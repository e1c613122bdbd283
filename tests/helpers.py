"""Small builders shared by tests: a farm, a product and confirmed stock through the HTTP API."""
from __future__ import annotations

import time

FARM = {"name": "马家庄 Ma family farm", "lat": 42.5, "lon": 1.52, "phone": "+86 138 0000 1111",
        "window_start": "08:00", "window_end": "12:00"}
PRODUCT = {"sku": "NOODLE-500", "name": "苦荞挂面 500 g", "unit": "bag", "unit_weight_kg": 0.5,
           "unit_volume_l": 0.8, "cold_chain": False, "shelf_life_days": 365}


def make_farm(client, headers, **overrides) -> dict:
    response = client.post("/api/v1/farms", json={**FARM, **overrides}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_product(client, headers, **overrides) -> dict:
    response = client.post("/api/v1/products", json={**PRODUCT, **overrides}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stock(client, headers, farm_id: int, sku: str, quantity: int) -> None:
    for kind in ("declared", "confirmed"):
        response = client.post("/api/v1/stock/adjustments", headers=headers, json={
            "farm_id": farm_id, "sku": sku, "delta": quantity, "kind": kind, "reason": "counted at the farm"})
        assert response.status_code == 201, response.get_json()


def stocked_farm(client, headers, quantity: int) -> dict:
    """A farm holding `quantity` confirmed units of the default product (PRODUCT); the farm."""
    farm = make_farm(client, headers)
    make_product(client, headers)
    stock(client, headers, farm["id"], PRODUCT["sku"], quantity)
    return farm


def order(platform="douyin", external_id="o-1", lines=(("NOODLE-500", 1),), stream_id=None) -> dict:
    body = {"platform": platform, "external_id": external_id,
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines]}
    if stream_id is not None:
        body["stream_id"] = stream_id
    return body


def wait_for(predicate, timeout_s: float, what: str, *logs, poll_s: float = 0.1):
    """Poll until `predicate()` is truthy and return it; fail naming `what` (with the tails of `logs`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    tails = "\n".join(open(p).read()[-3000:] for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def stock_in_service(db, skus=("A",), units: int = 5) -> None:
    """Products with `units` confirmed units each at one farm, through the services (no HTTP)."""
    from supply.services.catalog import FarmInput, ProductInput, register_farm, register_product
    from supply.services.stock import adjust_stock

    with db.transaction() as s:
        farm = register_farm(s, 1, FarmInput(name="f", lat=1, lon=1), None)
        for sku in skus:
            register_product(s, 1, ProductInput(sku=sku, name=sku, unit="bag", unit_weight_kg=1, unit_volume_l=1))
            for kind in ("declared", "confirmed"):
                adjust_stock(s, 1, farm_id=farm["id"], sku=sku, delta=units, kind=kind, reason="r", actor="t")


def commit_meanwhile(monkeypatch, action) -> None:
    """Run `action()` to its end in another thread (its own connection and transaction) right after
    the orders of the test's own intake call are written, before that call locks the figures."""
    import threading

    from supply.services.orders import postgres as service

    real_insert = service._insert_orders_pg

    def insert_then_let_another_commit(*args):
        inserted = real_insert(*args)
        if threading.current_thread() is threading.main_thread():
            other = threading.Thread(target=action)
            other.start()
            other.join(10)
            assert not other.is_alive(), "the other transaction did not finish"
        return inserted

    monkeypatch.setattr(service, "_insert_orders_pg", insert_then_let_another_commit)


def refused_field(adapter, raw):
    """The field a malformed push is refused for: a body unreadable as a whole raises; one bad event
    is returned refused, with its reason, among the others."""
    from supply.platforms import InvalidPayload

    try:
        events = adapter.parse(raw)
    except InvalidPayload as exc:
        return exc.field
    (event,) = [e for e in events if e.kind == "refused"]
    return event.refusal["field"]

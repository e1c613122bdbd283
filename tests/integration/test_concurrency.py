"""Stock is never promised twice, under real concurrency: many clients against `coop serve` (gunicorn,
several processes and threads) on whichever database this run uses (CI runs PostgreSQL and SQLite)."""
from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.helpers import make_farm, make_product, order, stock

SKU = "NOODLE-500"
STOCK = 1_000
CLIENTS = 32

pytestmark = pytest.mark.slow


class Fleet:
    """CLIENTS threads, each with its own keep-alive session, released together."""

    def __init__(self, base: str, headers: dict):
        self.base = base
        self.headers = headers
        self.local = threading.local()
        self.gate = threading.Barrier(CLIENTS)

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def _post(self, path: str, body: dict) -> tuple[int, dict]:
        response = self.session().post(self.base + path, json=body, timeout=60)
        return response.status_code, response.json()

    def post_all(self, path: str, bodies: list[dict]) -> list[tuple[int, dict]]:
        """Every body posted once; the answers in the order of `bodies`."""
        chunks = [list(range(i, len(bodies), CLIENTS)) for i in range(CLIENTS)]
        answers: list = [None] * len(bodies)

        def run(indexes):
            self.session()
            self.gate.wait(timeout=30)
            for i in indexes:
                answers[i] = self._post(path, bodies[i])

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(run, chunks))
        return answers

    def get_all(self, paths: list[str]) -> list[tuple[int, dict]]:
        def get(path):
            response = self.session().get(self.base + path, timeout=60)
            return response.status_code, response.json()

        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(get, paths))


@pytest.fixture
def fleet(live_server, client, manager):
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], SKU, STOCK)
    return Fleet(live_server + "/api/v1", manager)


def figures(fleet: Fleet) -> dict:
    body = fleet.session().get(f"{fleet.base}/products/{SKU}/availability", timeout=30).json()
    for name in ("available", "confirmed", "reserved", "held"):
        assert body[name] >= 0, body
    assert body["available"] == body["confirmed"] - body["reserved"] - body["held"], body
    return body


def assert_acknowledged_orders_are_stored(fleet: Fleet, answers: list[tuple[int, dict]]) -> None:
    acknowledged = {body["id"]: body["status"] for status, body in answers if status in (200, 201)}
    stored = fleet.get_all([f"/orders/{order_id}" for order_id in acknowledged])
    for (status, body), (order_id, acknowledged_status) in zip(stored, acknowledged.items()):
        assert status == 200, body
        assert body["id"] == order_id and body["status"] == acknowledged_status


def test_3000_concurrent_orders_for_1000_units_reserve_exactly_1000(fleet):
    bodies = [order(external_id=f"single-{i}", lines=[(SKU, 1)]) for i in range(3_000)]
    resent = random.Random(7).sample(range(3_000), 300)
    bodies += [bodies[i] for i in resent]
    random.Random(8).shuffle(bodies)
    answers = fleet.post_all("/orders", bodies)

    codes = Counter(status for status, _ in answers)
    assert set(codes) <= {200, 201, 409}, codes
    assert codes[201] == STOCK
    assert sum(body["lines"][0]["quantity"] for status, body in answers if status == 201) == STOCK
    assert all(body["error"]["code"] == "insufficient_stock" for status, body in answers if status == 409)
    after = figures(fleet)
    assert (after["reserved"], after["available"], after["confirmed"]) == (STOCK, 0, STOCK)

    # An id sent twice: one first answer (201 or 409), and the resend repeats it with 200.
    by_id: dict[str, list] = {}
    for body, (status, answer) in zip(bodies, answers):
        by_id.setdefault(body["external_id"], []).append((status, answer))
    for external_id, pair in by_id.items():
        if len(pair) == 1:
            continue
        (first, first_body), (second, second_body) = sorted(pair, key=lambda a: a[0] == 200)
        assert first in (201, 409) and second == 200, (external_id, pair)
        first_order = first_body if first == 201 else first_body["error"]["order"]
        assert second_body["id"] == first_order["id"]
        assert second_body["status"] == first_order["status"]
    assert_acknowledged_orders_are_stored(fleet, answers)


def test_concurrent_batches_never_reserve_more_than_the_stock(fleet):
    rng = random.Random(11)
    batches = []
    for b in range(64):
        batch = [order(external_id=f"batch-{b}-{i}", lines=[(SKU, rng.randint(1, 3))]) for i in range(40)]
        if b:  # resend a few orders of an earlier batch, identical
            batch += [batches[b - 1]["orders"][i] for i in range(3)]
        rng.shuffle(batch)
        batches.append({"orders": batch})
    answers = fleet.post_all("/orders/batch", batches)

    results = []
    for (status, body), batch in zip(answers, batches):
        assert status == 200, body
        assert len(body["results"]) == len(batch["orders"])
        results += list(zip(batch["orders"], body["results"]))
    assert {r["status"] for _, r in results} <= {200, 201, 409}
    reserved_by_answers = sum(r["order"]["lines"][0]["quantity"] for _, r in results if r["status"] == 201)
    after = figures(fleet)
    assert after["reserved"] == reserved_by_answers <= STOCK
    # Demand is well beyond stock: what is left is less than the largest order.
    assert after["available"] < 3
    firsts = {}
    for sent, result in results:
        if result["status"] in (200, 201):
            firsts.setdefault(sent["external_id"], set()).add(result["order"]["id"])
    assert all(len(ids) == 1 for ids in firsts.values())
    assert_acknowledged_orders_are_stored(fleet, [(r["status"], r["order"]) for _, r in results
                                                  if r["status"] in (200, 201)])


def test_concurrent_holds_and_orders_never_overdraw(fleet, client, host):
    stream = client.post("/api/v1/streams", headers=host, json={
        "platform": "douyin", "host": "县长 Wang", "starts_at": "2026-11-23T20:00:00+08:00"}).get_json()
    rng = random.Random(5)
    work = []
    for i in range(1_200):
        kind = rng.choice(["hold", "order", "stream order"])
        if kind == "hold":
            work.append(("hold", {"sku": SKU, "quantity": 5}))
        else:
            body = order(external_id=f"mix-{i}", lines=[(SKU, rng.randint(1, 2))],
                         stream_id=stream["id"] if kind == "stream order" else None)
            work.append(("order", body))
    paths = {"hold": f"/streams/{stream['id']}/holds", "order": "/orders"}
    answers: list = [None] * len(work)

    def run(indexes):  # holds and orders interleaved in one concurrent run
        session = fleet.session()
        fleet.gate.wait(timeout=30)
        for i in indexes:
            kind, body = work[i]
            response = session.post(fleet.base + paths[kind], json=body, timeout=60)
            answers[i] = (response.status_code, response.json())

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(run, [list(range(i, len(work), CLIENTS)) for i in range(CLIENTS)]))

    assert {status for status, _ in answers} <= {201, 409}, Counter(s for s, _ in answers)
    held_total = sum(5 for i, (k, _) in enumerate(work) if k == "hold" and answers[i][0] == 201)
    orders_ok = [answers[i][1] for i, (k, _) in enumerate(work) if k == "order" and answers[i][0] == 201]
    reserved = sum(o["lines"][0]["quantity"] for o in orders_ok)
    from_hold = sum(o["lines"][0]["from_hold"] for o in orders_ok)
    after = figures(fleet)
    assert after["reserved"] == reserved
    assert after["held"] == held_total - from_hold
    assert after["reserved"] + after["held"] <= STOCK
    assert after["holds"] == ([{"stream_id": stream["id"], "quantity": held_total, "remaining": after["held"]}]
                              if after["held"] else [])
    # The last answer of each kind was refused for want of stock: everything was taken.
    assert after["available"] < 5


def test_the_database_itself_refuses_an_oversell_written_directly(fleet, db):
    with db.engine.connect() as conn:
        product_id = conn.execute(text("SELECT product_id FROM product_balances")).scalar_one()
    for statement in ("UPDATE product_balances SET reserved = confirmed + 1 WHERE product_id = :p",
                      "UPDATE product_balances SET held = confirmed - reserved + 1 WHERE product_id = :p",
                      "UPDATE product_balances SET confirmed = reserved + held - 1 WHERE product_id = :p",
                      "UPDATE product_balances SET reserved = -1 WHERE product_id = :p"):
        with pytest.raises(IntegrityError):
            with db.engine.begin() as conn:
                conn.execute(text(statement), {"p": product_id})
    after = figures(fleet)
    assert (after["confirmed"], after["reserved"], after["held"]) == (STOCK, 0, 0)


def test_the_same_push_delivered_many_times_at_once_is_applied_once(fleet):
    """A platform that re-pushes while its first push is still in flight: every delivery is answered,
    each message is applied by exactly one of them, and the stock is taken once."""
    import hashlib
    import hmac
    import json

    events = [{"type": "order.paid", "id": f"twice-{i}",
               "order": {"platform": "generic", "external_id": f"twice-{i}", "lines": [{"sku": SKU, "quantity": 3}]}}
              for i in range(60)]
    raw = json.dumps({"events": events}).encode()
    signature = "sha256=" + hmac.new(b"test-secret", raw, hashlib.sha256).hexdigest()
    deliveries = 16
    gate = threading.Barrier(deliveries)

    def deliver(_):
        gate.wait(timeout=30)
        response = requests.post(fleet.base + "/webhooks/generic", data=raw, timeout=60,
                                 headers={"X-Signature": signature, "Content-Type": "application/json"})
        return response.status_code, response.json()

    with ThreadPoolExecutor(deliveries) as pool:
        answers = list(pool.map(deliver, range(deliveries)))
    assert [status for status, _ in answers] == [200] * deliveries, answers
    for i in range(len(events)):
        statuses = Counter(body["results"][i]["status"] for _, body in answers)
        assert statuses["applied"] == 1 and statuses["duplicate_message"] == deliveries - 1, statuses
    assert figures(fleet)["reserved"] == 3 * len(events)

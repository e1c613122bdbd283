"""A push of many events is applied as a set: the same answers and figures as applying its events one push
at a time, in a handful of statements."""
from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy import event as sa_event, func, select

from supply.db.models import PlatformMessage
from supply.platforms import PlatformEvent, PlatformLine, get_adapter
from supply.services import platform_messages
from supply.services.platform_messages import apply_platform_events
from tests.helpers import commit_meanwhile, make_farm, make_product, stock

HOT_STOCK = 60


def paid(message_id, order, *lines, version=None):
    return PlatformEvent(platform="", message_id=message_id, kind="paid", external_order_id=order,
                         version=version, lines=tuple(PlatformLine(ref, q) for ref, q in lines))


def cancelled(message_id, order, *, kind="cancelled", version=None):
    return PlatformEvent(platform="", message_id=message_id, kind=kind, external_order_id=order, version=version)


def spike_events() -> list[PlatformEvent]:
    """200 paid orders for a hot product with stock for about 45 of them, and among them: resent
    messages, cancels of orders paid earlier in the push, stale versions, unmapped products, events
    without lines, a cancel before its order, resent and conflicting orders."""
    paid_events = [paid(f"m-paid-{i}", f"o{i}", ("r-hot", 2 if i % 3 == 0 else 1),
                        *([("r-cold", 5)] if i % 7 == 0 else []), version=10) for i in range(200)]
    extra = {
        20: [paid_events[5]],                                                # the same message again
        50: [cancelled("m-cancel-o10", "o10", version=20)],                  # releases what o10 took
        60: [cancelled("m-cancel-o10-old", "o10", version=5)],               # older than the cancel: stale
        70: [paid("m-late", "o-late", ("r-hot", 1), version=30),
             cancelled("m-late-cancel", "o-late", version=25)],              # older, within the batch: stale
        80: [paid("m-unmapped", "o-un", ("r-nomap", 1), ("r-hot", 1))],
        90: [paid("m-nolines", "o-nolines")],
        100: [PlatformEvent(platform="", message_id="m-created", kind="created", external_order_id="o100")],
        110: [PlatformEvent(platform="", message_id="m-ping", kind="ping")],
        120: [cancelled("m-tomb", "o-tomb")],                                # cancel before paid
        130: [paid("m-tomb-paid", "o-tomb", ("r-hot", 1))],
        145: [paid("m-resend-143", "o143", ("r-hot", 1), version=10)],       # same order, new message
        150: [paid("m-conflict-142", "o142", ("r-hot", 3))],                 # same order, other body
        160: [cancelled("m-refund-155", "o155", kind="refunded")],
        170: [cancelled("m-cancel-o2", "o2"), paid("m-after-o2", "o-after-o2", ("r-hot", 2))],
        198: [paid_events[197]],                                             # a repeat of one still pending
        199: [cancelled("m-cancel-o10", "o10", version=20)],                 # the same cancel again
    }
    events = []
    for i, event in enumerate(paid_events):
        events += [event, *extra.get(i, [])]
    return events


def on(platform: str, events: list[PlatformEvent]) -> list[PlatformEvent]:
    return [PlatformEvent(platform=platform, message_id=e.message_id, kind=e.kind,
                          external_order_id=e.external_order_id, version=e.version, lines=e.lines)
            for e in events]


def without_ids(value):
    """Order ids and platform names differ between the two runs; everything else must not."""
    if isinstance(value, str):
        return value.replace("whole/", "<platform>/").replace("single/", "<platform>/")
    if isinstance(value, dict):
        return {k: ("<id>" if k == "order_id" and v is not None else without_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def figures(client, manager, sku):
    body = client.get(f"/api/v1/products/{sku}/availability", headers=manager).get_json()
    return {k: body[k] for k in ("available", "confirmed", "reserved", "held")}


def set_up_platform(client, manager, farm_id, platform):
    for ref, sku, quantity in (("r-hot", f"HOT-{platform}", HOT_STOCK), ("r-cold", f"COLD-{platform}", 1000)):
        make_product(client, manager, sku=sku)
        stock(client, manager, farm_id, sku, quantity)
        response = client.post("/api/v1/platform-products", headers=manager,
                               json={"platform": platform, "product_ref": ref, "sku": sku})
        assert response.status_code == 201, response.get_json()


def test_a_push_of_many_events_answers_as_its_events_pushed_one_at_a_time(db, client, manager):
    farm = make_farm(client, manager)
    for platform in ("whole", "single"):
        set_up_platform(client, manager, farm["id"], platform)
    events = spike_events()
    assert len(events) > 200

    with db.transaction() as session:
        whole = apply_platform_events(session, 1, on("whole", events), refs_are_skus=False)
    single = []
    for one in on("single", events):
        with db.transaction() as session:
            single += apply_platform_events(session, 1, [one], refs_are_skus=False)

    assert len(whole) == len(events)
    assert [r["status"] for r in whole] == [r["status"] for r in single]
    assert without_ids(whole) == without_ids(single)
    for sku in ("HOT", "COLD"):
        assert figures(client, manager, f"{sku}-whole") == figures(client, manager, f"{sku}-single")
    stored = client.get("/api/v1/platform-messages?page_size=1000", headers=manager).get_json()
    by_platform = {p: [without_ids([m["message_id"], m["status"], m["result"]]) for m in stored
                       if m["platform"] == p] for p in ("whole", "single")}
    assert by_platform["whole"] == by_platform["single"]

    # The push did meet each case it was built for.
    statuses = {r["status"] for r in whole}
    assert statuses == {"applied", "rejected", "duplicate_message", "stale", "unmapped", "needs_order_detail",
                        "recorded", "ping", "duplicate_order", "invalid"}
    status_of = {(r["message_id"], r["status"]) for r in whole}
    assert ("m-cancel-o10-old", "stale") in status_of and ("m-late-cancel", "stale") in status_of
    assert ("m-tomb-paid", "duplicate_order") in status_of
    repeats = [r for r in whole if r["status"] == "duplicate_message"]
    assert len(repeats) == 3 and all(r["first_result"] for r in repeats)
    assert figures(client, manager, "HOT-whole")["available"] == 0


def test_a_pushed_again_push_is_all_duplicate_messages_with_first_results(db, client, manager):
    farm = make_farm(client, manager)
    set_up_platform(client, manager, farm["id"], "shop")
    events = on("shop", spike_events())
    with db.transaction() as session:
        first = apply_platform_events(session, 1, events, refs_are_skus=False)
    before = figures(client, manager, "HOT-shop")
    with db.transaction() as session:
        again = apply_platform_events(session, 1, events, refs_are_skus=False)
    assert {r["status"] for r in again} == {"duplicate_message", "ping"}
    firsts = {}
    for event, result in zip(events, first):
        if result["status"] not in ("duplicate_message", "ping"):
            firsts[event.message_id] = {k: v for k, v in result.items()
                                        if k not in ("message_id", "kind", "external_order_id", "status")}
    for event, result in zip(events, again):
        if result["status"] == "duplicate_message":
            assert result["first_result"] == json.loads(json.dumps(firsts[event.message_id]))
    assert figures(client, manager, "HOT-shop") == before


def test_a_message_stored_already_is_found_by_the_insert_and_the_push_done_again(
        db, client, manager, monkeypatch):
    farm = make_farm(client, manager)
    set_up_platform(client, manager, farm["id"], "shop")
    events = on("shop", [paid("m-1", "o1", ("r-hot", 2)), paid("m-2", "o2", ("r-hot", 1))])
    with db.transaction() as session:
        apply_platform_events(session, 1, events[:1], refs_are_skus=False)
    # A push does not look for its messages before it acts: the insert of the messages finds m-1
    # stored, and the push is undone and done again, looking first this time.
    real, looks = platform_messages._stored_results, []

    def spied(*args):
        looks.append(args[2])
        return real(*args)

    monkeypatch.setattr(platform_messages, "_stored_results", spied)
    with db.transaction() as session:
        results = apply_platform_events(session, 1, [events[0], events[1], events[0]], refs_are_skus=False)
    assert len(looks) == 1
    assert [r["status"] for r in results] == ["duplicate_message", "applied", "duplicate_message"]
    assert results[0]["first_result"]["order_status"] == "reserved"
    assert figures(client, manager, "HOT-shop")["reserved"] == 3
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PlatformMessage)) == 2


def signed(body, secret="shop-secret"):
    raw = json.dumps(body, ensure_ascii=False).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_a_signed_push_of_a_hundred_paid_events_takes_a_handful_of_statements(db, client, manager):
    farm = make_farm(client, manager)
    make_product(client, manager)
    stock(client, manager, farm["id"], "NOODLE-500", 80)
    raw, headers = signed({"events": [
        {"type": "order.paid", "version": 1,
         "order": {"platform": "testshop", "external_id": f"w-{i}", "lines": [{"sku": "NOODLE-500", "quantity": 1}]}}
        for i in range(100)]})
    statements = []
    listener = lambda *args: statements.append(args[2])
    sa_event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = client.post("/api/v1/webhooks/testshop", data=raw, headers=headers)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 80 + ["rejected"] * 20
    assert len(statements) < 25, statements


def test_a_douyin_push_is_stored_once_per_message_and_cancels_in_order(db, client, manager):
    """Douyin messages carry no lines: paid ones wait for the order detail, cancels still cancel."""
    adapter = get_adapter("douyin", {"app_key": "k", "app_secret": "s"})

    def message(tag, msg_id, order, stamp):
        data = {"p_id": order, "s_ids": [1], "shop_id": 77977}
        data["cancel_time" if tag == 106 else "pay_time"] = stamp
        return {"tag": str(tag), "msg_id": msg_id, "data": json.dumps(data)}

    messages = [message(101, f"7{i:05d}", 1000 + i, 1718712000 + i) for i in range(50)]
    messages.insert(10, message(106, "900001", 1003, 1718713000))
    messages.insert(20, message(101, "900002", 1003, 1718712001))   # older than the cancel: stale
    messages.append(messages[0])
    events = adapter.parse(json.dumps(messages).encode())
    with db.transaction() as session:
        whole = apply_platform_events(session, 1, events, refs_are_skus=False)
    statuses = [r["status"] for r in whole]
    assert statuses[10] == "applied" and whole[10]["order_status"] == "cancelled"
    assert statuses[20] == "stale"
    assert statuses[-1] == "duplicate_message" and whole[-1]["first_result"] == {
        "reason": "the event names the order but not its lines"}
    assert statuses.count("needs_order_detail") == 50


def test_a_push_decided_again_under_the_lock_stores_the_final_outcome(db, client, manager, monkeypatch):
    """PostgreSQL: the usual push stores its messages before the figures are locked; when another
    transaction takes the stock in between, the order is decided again, and its message follows."""
    from tests.conftest import PG_URL, require_service

    require_service(bool(PG_URL), "PostgreSQL (DATABASE_URL)")
    farm = make_farm(client, manager)
    set_up_platform(client, manager, farm["id"], "shop")
    events = on("shop", [paid("m-big", "o-big", ("r-hot", HOT_STOCK - 10)), paid("m-small", "o-small", ("r-hot", 5))])

    def take():
        with db.transaction() as session:
            apply_platform_events(session, 1, on("shop", [paid("m-other", "o-other", ("r-hot", 20))]),
                                  refs_are_skus=False)

    commit_meanwhile(monkeypatch, take)
    with db.transaction() as session:
        results = apply_platform_events(session, 1, events, refs_are_skus=False)
    assert [r["status"] for r in results] == ["rejected", "applied"]
    with db.transaction() as session:
        stored = {m.message_id: m for m in session.scalars(select(PlatformMessage))}
    assert stored["m-big"].status == "rejected"
    assert stored["m-big"].result["error"]["code"] == results[0]["error"]["code"] == "insufficient_stock"
    assert stored["m-small"].status == "applied"
    assert figures(client, manager, "HOT-shop")["reserved"] == 25

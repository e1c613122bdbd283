"""Pushes without lines complete themselves against local stand-ins of the platforms' open APIs
(`tests.fakes`, which check signatures and tokens as the platforms do); listing stock follows ours;
waybills are told back once; cooperatives keep their own credentials and pushes."""
from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from tests.conftest import auth
from tests.fakes import DouyinSandbox, KuaishouSandbox, YouzanSandbox, douyin_push, kuaishou_push_body
from tests.helpers import stocked_farm

DOUYIN = {"app_key": "7012345678901234567", "app_secret": "dy-app-secret-5f2c", "shop_id": "77977"}
KUAISHOU = {"app_key": "ks-app-3b1", "message_key": "MDEyMzQ1Njc4OWFiY2RlZg==", "app_secret": "ks-secret-77",
            "sign_secret": "ks-sign-secret-19", "code": "ks-auth-code-1"}
YOUZAN = {"client_id": "yz-client-2", "client_secret": "yz-secret-9", "shop_id": "41088"}
SKU = "NOODLE-500"
DY_SKU, KS_SKU, YZ_SKU = "1760000000001", "ks-sku-55", "yz-sku-7"


@pytest.fixture
def platforms():
    with DouyinSandbox(DOUYIN) as dy, KuaishouSandbox(KUAISHOU) as ks, YouzanSandbox(YOUZAN) as yz:
        yield {"douyin": dy, "kuaishou": ks, "youzan": yz}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    from supply.services import platform_links

    monkeypatch.setattr(platform_links, "RETRY_DELAYS_S", (0.01, 0.02, 0.05))


@pytest.fixture
def make_linked(db, settings, platforms):
    """An app whose default cooperative takes Douyin's, Kuaishou's and Youzan's pushes, and whose
    platform API addresses are the stand-ins (other settings changed as given)."""
    from supply.app import create_app
    from supply.wiring import build_services

    def make(**changes):
        configured = settings.with_(
            platform_secrets={**settings.platform_secrets, "douyin": DOUYIN, "kuaishou": KUAISHOU, "youzan": YOUZAN},
            platform_api_urls={name: fake.base_url for name, fake in platforms.items()},
            credentials_key=Fernet.generate_key().decode(), platform_api_timeout_s=0.5, **changes)
        services = build_services(configured, db=db)
        return create_app(configured, services=services).test_client()

    return make


@pytest.fixture
def linked(make_linked):
    return make_linked()


def push_douyin(client, *orders: tuple[str, str], path="/api/v1/webhooks/douyin", creds=DOUYIN):
    messages = [{"tag": "101", "msg_id": msg_id, "data": json.dumps({
        "p_id": int(order_id), "shop_id": 77977, "order_status": 2, "pay_time": 1718712060, "pay_amount": 1990})}
        for msg_id, order_id in orders]
    raw, headers = douyin_push(messages, creds["app_key"], creds["app_secret"])
    return client.post(path, data=raw, headers=headers)


def push_kuaishou(client, msg_id: str, order_id: str):
    message = {"eventId": msg_id, "msgId": msg_id, "appKey": KUAISHOU["app_key"], "event": "kwaishop_order_paySuccess",
               "info": json.dumps({"oid": int(order_id), "status": 30, "updateTime": 1718712060000}),
               "createTime": 1718712060000}
    return client.post("/api/v1/webhooks/kuaishou", data=kuaishou_push_body(message, KUAISHOU["message_key"]))


def figures(client, manager) -> dict:
    body = client.get(f"/api/v1/products/{SKU}/availability", headers=manager).get_json()
    return {k: body[k] for k in ("available", "reserved")}


def messages(client, manager, status=None) -> list[dict]:
    query = f"?status={status}&page_size=1000" if status else "?page_size=1000"
    return client.get("/api/v1/platform-messages" + query, headers=manager).get_json()


def link(client, manager, platform, ref, item="9001"):
    response = client.post("/api/v1/platform-listings", headers=manager,
                           json={"platform": platform, "product_ref": ref, "item_ref": item, "sku": SKU})
    assert response.status_code == 201, response.get_json()


def authorize_kuaishou(client, manager):
    response = client.post("/api/v1/platform-accounts/kuaishou/authorization", headers=manager,
                           json={"code": KUAISHOU["code"]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_spike_of_douyin_and_kuaishou_pushes_reserves_exactly_the_stock(linked, manager, platforms):
    stocked_farm(linked, manager, 25)
    link(linked, manager, "douyin", DY_SKU)
    link(linked, manager, "kuaishou", KS_SKU)
    authorize_kuaishou(linked, manager)
    dy, ks = platforms["douyin"], platforms["kuaishou"]
    for n in range(20):
        dy.add_order(str(4800000000000000000 + n), [(DY_SKU, 1)])
        ks.add_order(str(2400000000000 + n), [(KS_SKU, 1)])
    for start in range(0, 20, 5):   # Douyin pushes several messages at once
        orders = [(f"dy-{n}", str(4800000000000000000 + n)) for n in range(start, start + 5)]
        assert push_douyin(linked, *orders).status_code == 200
    for n in range(20):
        assert push_kuaishou(linked, f"ks-{n}", str(2400000000000 + n)).get_json() == {"result": 1}

    assert figures(linked, manager) == {"available": 0, "reserved": 25}
    stored = messages(linked, manager)
    assert len(stored) == 40
    statuses = [m["status"] for m in stored]
    assert statuses.count("applied") == 25 and statuses.count("rejected") == 15
    assert dy.state.bad_signatures == 0 and ks.state.bad_signatures == 0
    assert dy.calls_of("order.orderDetail") == 20 and ks.calls_of("open.order.detail") == 20


def test_errors_timeouts_and_rate_limits_are_retried_until_the_order_is_reserved(linked, manager, platforms):
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000000001", [(DY_SKU, 3)])
    dy.fail_next(1, "rate_limit")
    dy.fail_next(1, "slow", seconds=0.8)      # longer than the client's 0.5 s timeout
    dy.fail_next(1, "server_error")
    assert push_douyin(linked, ("m-1", "4800000000000000001")).status_code == 200
    [message] = messages(linked, manager)
    assert (message["status"], message["result"]["order_status"]) == ("applied", "reserved")
    assert figures(linked, manager) == {"available": 7, "reserved": 3}
    assert dy.calls_of("order.orderDetail") == 4


def test_a_detail_still_failing_goes_to_the_managers_list_with_the_platforms_error_and_is_fetched_later(
        linked, manager, platforms, db):
    from supply.services.platform_links import retry_order_details

    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000000002", [(DY_SKU, 2)])
    dy.fail_next(10, "rate_limit")
    assert push_douyin(linked, ("m-2", "4800000000000000002")).status_code == 200
    [waiting] = messages(linked, manager, "needs_order_detail")
    assert waiting["result"]["detail_error"] == {"code": "50002", "message": "too many requests"}
    assert figures(linked, manager)["reserved"] == 0

    dy.state.faults.clear()
    services = linked.application.extensions["coop"]
    assert len(retry_order_details(services, older_than_s=0)) == 1
    [message] = messages(linked, manager)
    assert (message["status"], message["result"]["order_status"]) == ("applied", "reserved")
    assert figures(linked, manager) == {"available": 8, "reserved": 2}


def test_an_order_whose_detail_names_an_unmapped_sku_waits_for_the_manager(linked, manager, platforms):
    stocked_farm(linked, manager, 10)
    platforms["douyin"].add_order("4800000000000000003", [("1999999999999", 1)])
    assert push_douyin(linked, ("m-3", "4800000000000000003")).status_code == 200
    [message] = messages(linked, manager)
    assert (message["status"], message["result"]["product_refs"]) == ("unmapped", ["1999999999999"])
    response = linked.post(f"/api/v1/platform-messages/{message['id']}/order", headers=manager,
                           json={"lines": [{"sku": SKU, "quantity": 1}]})
    assert response.status_code == 200 and response.get_json()["status"] == "applied"


def test_a_token_expiring_mid_spike_is_refreshed_and_no_order_is_lost(linked, manager, platforms):
    stocked_farm(linked, manager, 10)
    link(linked, manager, "kuaishou", KS_SKU)
    authorize_kuaishou(linked, manager)
    ks = platforms["kuaishou"]
    for n in range(6):
        ks.add_order(str(2400000000100 + n), [(KS_SKU, 1)])
    for n in range(3):
        push_kuaishou(linked, f"ks-a{n}", str(2400000000100 + n))
    ks.expire_tokens()
    for n in range(3, 6):
        push_kuaishou(linked, f"ks-a{n}", str(2400000000100 + n))
    assert figures(linked, manager) == {"available": 4, "reserved": 6}
    assert ks.calls_of("/oauth2/refresh_token") == 1
    assert messages(linked, manager, "needs_order_detail") == []


def test_a_youzan_push_without_lines_is_completed_from_its_trade(linked, manager, platforms):
    import hashlib

    stocked_farm(linked, manager, 10)
    link(linked, manager, "youzan", YZ_SKU)
    platforms["youzan"].add_order("E2024061800001", [(YZ_SKU, 4)])
    body = json.dumps({"type": "trade_TradePaid", "id": "E2024061800001", "kdt_id": 41088, "version": 1718712060,
                       "msg": json.dumps({"tid": "E2024061800001"})}).encode()
    sign = hashlib.md5(YOUZAN["client_id"].encode() + body + YOUZAN["client_secret"].encode()).hexdigest()
    response = linked.post("/api/v1/webhooks/youzan", data=body,
                           headers={"Client-Id": YOUZAN["client_id"], "Event-Sign": sign})
    assert response.status_code == 200, response.get_json()
    assert figures(linked, manager) == {"available": 6, "reserved": 4}


def listed_on_both(linked, manager, platforms, *, stock: int):
    """`stock` units of our SKU, listed on Douyin and Kuaishou (each listing at 100 until we tell them)."""
    stocked_farm(linked, manager, stock)
    link(linked, manager, "douyin", DY_SKU, item="3600000001")
    link(linked, manager, "kuaishou", KS_SKU, item="ks-item-1")
    authorize_kuaishou(linked, manager)
    dy, ks = platforms["douyin"], platforms["kuaishou"]
    dy.add_listing(DY_SKU, "3600000001", stock=100)
    ks.add_listing(KS_SKU, "ks-item-1", stock=100)
    return dy, ks


def test_listing_stock_follows_ours_and_reads_zero_when_we_sell_out(linked, manager, platforms):
    from supply.services.platform_links import sync_listings_once

    services = linked.application.extensions["coop"]
    dy, ks = listed_on_both(linked, manager, platforms, stock=4)
    assert sync_listings_once(services)["sent"] == 2
    assert (dy.state.stock[DY_SKU], ks.state.stock[KS_SKU]) == (4, 4)

    for n in range(4):
        dy.add_order(str(4800000000000000100 + n), [(DY_SKU, 1)])
    push_douyin(linked, *[(f"m-s{n}", str(4800000000000000100 + n)) for n in range(4)])
    assert sync_listings_once(services, min_interval_s=0)["sent"] == 2
    assert (dy.state.stock[DY_SKU], ks.state.stock[KS_SKU]) == (0, 0)
    assert sync_listings_once(services, min_interval_s=0)["claimed"] == 0   # nothing changed, nothing sent


def test_listing_stock_is_sent_at_most_once_a_second_and_the_latest_figure_wins(linked, manager, platforms, db):
    from supply.db.platform_links import PlatformListing
    from supply.services.platform_links import sync_listings_once

    services = linked.application.extensions["coop"]
    farm = stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU, item="3600000001")
    dy = platforms["douyin"]
    dy.add_listing(DY_SKU, "3600000001", stock=0)
    assert sync_listings_once(services)["sent"] == 1
    for delta in (1, 1, 1):   # three changes within the second: none sent yet
        linked.post("/api/v1/stock/adjustments", headers=manager, json={
            "farm_id": farm["id"], "sku": SKU, "delta": delta, "kind": "declared", "reason": "counted"})
        linked.post("/api/v1/stock/adjustments", headers=manager, json={
            "farm_id": farm["id"], "sku": SKU, "delta": delta, "kind": "confirmed", "reason": "counted"})
        assert sync_listings_once(services)["claimed"] == 0
    assert sync_listings_once(services, min_interval_s=0)["sent"] == 1
    assert [figure for _, _, figure in dy.state.stock_writes] == [10, 13]
    with db.transaction() as session:
        listing = session.get(PlatformListing, (1, "douyin", DY_SKU))
        assert (listing.seq, listing.sent_seq, listing.sent_quantity) == (2, 2, 13)


def test_a_shipment_sent_twice_is_confirmed_once(linked, manager, platforms):
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000000200", [(DY_SKU, 1)])
    push_douyin(linked, ("m-ship", "4800000000000000200"))
    [message] = messages(linked, manager)
    order_id = message["result"]["order_id"]
    for _ in range(2):
        response = linked.put(f"/api/v1/orders/{order_id}/shipment", headers=manager,
                              json={"carrier_code": "zhongtong", "waybill": "ZT7700001234"})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "confirmed"
    assert dy.state.ship_calls["4800000000000000200"] == 1
    assert dy.state.shipments["4800000000000000200"] == ("zhongtong", "ZT7700001234")
    shown = linked.get(f"/api/v1/orders/{order_id}/shipment", headers=manager).get_json()
    assert (shown["waybill"], shown["status"], shown["attempts"]) == ("ZT7700001234", "confirmed", 1)
    order = linked.get(f"/api/v1/orders/{order_id}", headers=manager).get_json()
    assert order["shipment"]["waybill"] == "ZT7700001234" and order["shipment"]["status"] == "confirmed"
    assert order["shipment"]["carrier_code"] == "zhongtong" and order["shipment"]["confirmed_at"]
    other = linked.put(f"/api/v1/orders/{order_id}/shipment", headers=manager,
                       json={"carrier_code": "zhongtong", "waybill": "ZT9999999999"})
    assert other.status_code == 409


def test_a_carriers_file_gives_waybills_and_the_platform_is_told(linked, manager, platforms):
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000000300", [(DY_SKU, 1)])
    push_douyin(linked, ("m-csv", "4800000000000000300"))
    csv_text = "platform,external_order_id,carrier_code,waybill\ndouyin,4800000000000000300,yuantong,YT1234567890\n"
    response = linked.post("/api/v1/shipments", headers=manager, json={"csv": csv_text})
    assert response.status_code == 200, response.get_json()
    assert [s["status"] for s in response.get_json()] == ["confirmed"]
    assert dy.state.shipments["4800000000000000300"] == ("yuantong", "YT1234567890")
    bad = linked.post("/api/v1/shipments", headers=manager,
                      json={"csv": "platform,external_order_id\ndouyin,1\n"})
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"]


def test_two_cooperatives_never_see_each_others_pushes(linked, manager, platforms, db):
    from sqlalchemy import text

    from supply.services.auth import create_token

    with db.transaction() as session:
        session.execute(text("INSERT INTO cooperatives (id, code, name, timezone, created_at) "
                             "VALUES (2, 'zhaosu', '昭苏县合作社', 'Asia/Shanghai', CURRENT_TIMESTAMP)"))
        second = auth(create_token(session, role="manager", cooperative_code="zhaosu"))
    other_app = {"app_key": "7099999999999999999", "app_secret": "second-coop-secret", "shop_id": "88001"}
    response = linked.post("/api/v1/platform-accounts", headers=second,
                           json={"platform": "douyin", "credentials": other_app, "shop_id": "88001"})
    assert response.status_code == 201, response.get_json()
    account = response.get_json()
    assert "second-coop-secret" not in response.get_data(as_text=True)
    listed = linked.get("/api/v1/platform-accounts", headers=second)
    assert "second-coop-secret" not in listed.get_data(as_text=True) and listed.get_json()[0]["has_credentials"]

    # signed with the first cooperative's app: refused at the second's address
    assert push_douyin(linked, ("x-1", "4800000000000000400"), path=account["webhook_path"]).status_code == 401
    ok = push_douyin(linked, ("x-2", "4800000000000000401"), path=account["webhook_path"], creds=other_app)
    assert ok.status_code == 200, ok.get_json()
    assert [m["message_id"] for m in messages(linked, second)] == ["x-2"]
    assert messages(linked, manager) == []
    assert push_douyin(linked, ("x-3", "4800000000000000402")).status_code == 200   # the default address
    assert [m["message_id"] for m in messages(linked, manager)] == ["x-3"]
    assert [m["message_id"] for m in messages(linked, second)] == ["x-2"]
    assert linked.post("/api/v1/webhooks/douyin/not-an-address", data=b"[]").status_code == 404


def test_credentials_are_stored_encrypted(linked, db):
    from sqlalchemy import select

    from supply.db.platform_links import PlatformAccount
    from supply.services.platform_links import connect_account, vault

    services = linked.application.extensions["coop"]
    with db.transaction() as session:
        connect_account(session, vault(services), 1, platform="youzan", credentials=YOUZAN, shop_id="41088")
    with db.transaction() as session:
        stored = session.execute(select(PlatformAccount.secrets_enc)).scalar_one()
    assert YOUZAN["client_secret"] not in stored
    assert vault(services).open(stored) == YOUZAN


def test_a_running_streams_hold_is_its_platforms_listing_stock_too(linked, manager, host, platforms):
    from datetime import datetime, timedelta, timezone

    from supply.services.platform_links import sync_listings_once

    services = linked.application.extensions["coop"]
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU, item="3600000001")
    link(linked, manager, "youzan", YZ_SKU, item="yz-item")
    platforms["douyin"].add_listing(DY_SKU, "3600000001")
    platforms["youzan"].add_listing(YZ_SKU, "yz-item")
    started = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    stream = linked.post("/api/v1/streams", headers=host, json={"platform": "douyin", "host": "县长 Wang",
                                                                "starts_at": started}).get_json()
    hold = linked.post(f"/api/v1/streams/{stream['id']}/holds", headers=host, json={"sku": SKU, "quantity": 6})
    assert hold.status_code == 201, hold.get_json()
    assert sync_listings_once(services)["sent"] == 2
    # the hold is Douyin's while its stream runs: 4 for anyone, 4 + 6 on Douyin
    assert (platforms["douyin"].state.stock[DY_SKU], platforms["youzan"].state.stock[YZ_SKU]) == (10, 4)


def test_a_token_near_its_expiry_is_refreshed_before_it_is_used(linked, manager, platforms, caplog):
    ks = platforms["kuaishou"]
    ks.token_ttl_s = 120   # inside the refresh margin from the start
    stocked_farm(linked, manager, 5)
    link(linked, manager, "kuaishou", KS_SKU)
    authorize_kuaishou(linked, manager)
    ks.add_order("2400000000900", [(KS_SKU, 2)])
    with caplog.at_level("DEBUG"):
        push_kuaishou(linked, "ks-near", "2400000000900")
    assert figures(linked, manager) == {"available": 3, "reserved": 2}
    assert ks.calls_of("/oauth2/refresh_token") == 1
    assert ks.calls_of("open.order.detail") == 1   # never refused for its token
    for secret in (KUAISHOU["app_secret"], KUAISHOU["sign_secret"], KUAISHOU["message_key"], *ks.state.tokens):
        assert secret not in caplog.text


def test_a_waybill_the_platform_did_not_take_is_sent_again_by_the_sweep(linked, manager, platforms):
    from supply.services.platform_links import retry_shipments

    services = linked.application.extensions["coop"]
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000000700", [(DY_SKU, 1)])
    push_douyin(linked, ("m-retry", "4800000000000000700"))
    order_id = messages(linked, manager)[0]["result"]["order_id"]
    dy.fail_next(10, "server_error")
    failed = linked.put(f"/api/v1/orders/{order_id}/shipment", headers=manager,
                        json={"carrier_code": "shentong", "waybill": "ST5500001111"}).get_json()
    assert (failed["status"], failed["error"]["code"]) == ("failed", "502")
    dy.state.faults.clear()
    assert len(retry_shipments(services, older_than_s=0)) == 1
    shown = linked.get(f"/api/v1/orders/{order_id}/shipment", headers=manager).get_json()
    assert (shown["status"], shown["error"]) == ("confirmed", None)
    assert dy.state.shipments["4800000000000000700"] == ("shentong", "ST5500001111")


def test_a_token_refreshed_by_another_process_is_used_not_refreshed_again(linked, manager, platforms):
    from supply.platforms.clients import Token
    from supply.services.platform_links import _store_token, access_token, client_for

    services = linked.application.extensions["coop"]
    authorize_kuaishou(linked, manager)
    ks = platforms["kuaishou"]
    client = client_for(services, 1, "kuaishou")
    stale = access_token(services, client, 1, "kuaishou")
    ks.expire_tokens()
    # another process refreshes first (its token stored); this one, told the old one was refused, reads it
    issued = ks.issue_token()
    from datetime import datetime, timedelta, timezone

    fresh = Token(issued["access_token"], issued["refresh_token"], datetime.now(timezone.utc) + timedelta(hours=2))
    _store_token(services, 1, "kuaishou", fresh)
    services.extras["shop_tokens"].clear()
    assert access_token(services, client, 1, "kuaishou", refused=stale) == fresh.access_token
    assert ks.calls_of("/oauth2/refresh_token") == 0


def another_cooperative(client, db, cooperative_id: int, code: str, credentials: dict) -> tuple[dict, str]:
    """A cooperative of its own with a Douyin shop: its manager's headers and its webhook address."""
    from sqlalchemy import text

    from supply.services.auth import create_token

    with db.transaction() as session:
        session.execute(text("INSERT INTO cooperatives (id, code, name, timezone, created_at) "
                             "VALUES (:id, :code, :code, 'Asia/Shanghai', CURRENT_TIMESTAMP)"),
                        {"id": cooperative_id, "code": code})
        headers = auth(create_token(session, role="manager", cooperative_code=code))
    response = client.post("/api/v1/platform-accounts", headers=headers,
                           json={"platform": "douyin", "credentials": credentials, "shop_id": credentials["shop_id"]})
    assert response.status_code == 201, response.get_json()
    return headers, response.get_json()["webhook_path"]


def test_a_cooperatives_own_webhook_address_is_under_the_push_rate_limit(make_linked, manager, db):
    import uuid

    from tests.conftest import REDIS_URL

    client = make_linked(rate_limit_webhooks="3 per minute", redis_url=REDIS_URL or None,
                         rate_limit_key_prefix=f"links-{uuid.uuid4().hex}")
    second_app = {"app_key": "7099999999999999991", "app_secret": "second-coop-secret", "shop_id": "88001"}
    third_app = {"app_key": "7099999999999999992", "app_secret": "third-coop-secret", "shop_id": "88002"}
    second, second_path = another_cooperative(client, db, 2, "zhaosu", second_app)
    third, third_path = another_cooperative(client, db, 3, "tekes", third_app)

    for n in range(3):
        assert push_douyin(client, (f"r-{n}", str(4800000000000002000 + n)), path=second_path,
                           creds=second_app).status_code == 200
    refused = push_douyin(client, ("r-3", "4800000000000002003"), path=second_path, creds=second_app)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert sorted(m["message_id"] for m in messages(client, second)) == ["r-0", "r-1", "r-2"]   # nothing stored
    # counted per cooperative: another cooperative's address and the shared one are not held back
    assert push_douyin(client, ("t-0", "4800000000000002100"), path=third_path, creds=third_app).status_code == 200
    assert push_douyin(client, ("d-0", "4800000000000002200")).status_code == 200
    # addresses that name no account share one count per sender, so inventing them gains nothing
    for n in range(3):
        assert client.post(f"/api/v1/webhooks/douyin/invented-{n}", data=b"[]").status_code == 404
    assert client.post("/api/v1/webhooks/douyin/invented-9", data=b"[]").status_code == 429
    assert [m["message_id"] for m in messages(client, third)] == ["t-0"]


def test_badly_signed_pushes_to_a_cooperatives_address_never_lock_its_platform_out(make_linked, manager, db):
    """A push carries a signature, not a token: its 401s count against the push limit only, so a push
    server that sent a few bad signatures is not refused as a token guesser."""
    import uuid

    from tests.conftest import REDIS_URL

    client = make_linked(rate_limit_webhooks="100 per minute", rate_limit_unauthenticated="2 per minute",
                         redis_url=REDIS_URL or None, rate_limit_key_prefix=f"links-{uuid.uuid4().hex}")
    second_app = {"app_key": "7099999999999999993", "app_secret": "second-coop-secret", "shop_id": "88003"}
    second, path = another_cooperative(client, db, 2, "zhaosu", second_app)
    for n in range(4):
        assert push_douyin(client, (f"b-{n}", str(4800000000000002300 + n)), path=path).status_code == 401
    ok = push_douyin(client, ("g-0", "4800000000000002399"), path=path, creds=second_app)
    assert ok.status_code == 200, ok.get_json()
    assert [m["message_id"] for m in messages(client, second)] == ["g-0"]


def test_listing_stock_reads_zero_within_two_seconds_of_the_last_unit_reserved(linked, manager, platforms):
    """`coop platform-sync`'s loop running as in production (a round every 0.2 s, a SKU told at most
    once a second): the platforms read zero within the target of issue 15 after the spike sells out."""
    import threading
    import time

    from supply.services.platform_links import run_listing_sync

    services = linked.application.extensions["coop"]
    dy, ks = listed_on_both(linked, manager, platforms, stock=6)
    for n in range(8):
        dy.add_order(str(4800000000000003000 + n), [(DY_SKU, 1)])
        ks.add_order(str(2400000003000 + n), [(KS_SKU, 1)])
    stop = threading.Event()
    loop = threading.Thread(target=run_listing_sync, args=(services, stop), kwargs={"interval_s": 0.2}, daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while (dy.state.stock[DY_SKU], ks.state.stock[KS_SKU]) != (6, 6) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (dy.state.stock[DY_SKU], ks.state.stock[KS_SKU]) == (6, 6)
        for n in range(8):   # 16 orders for 6 units, the listings told meanwhile
            push_douyin(linked, (f"z-{n}", str(4800000000000003000 + n)))
            push_kuaishou(linked, f"zk-{n}", str(2400000003000 + n))
            if n == 2:
                assert figures(linked, manager)["available"] == 0
                sold_out = time.time()
        deadline = time.monotonic() + 10
        while (dy.state.stock[DY_SKU], ks.state.stock[KS_SKU]) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        loop.join(5)
    assert figures(linked, manager) == {"available": 0, "reserved": 6}
    zero_at = [next(t for t, sku, figure in fake.state.stock_writes if sku == ref and figure == 0)
               for fake, ref in ((dy, DY_SKU), (ks, KS_SKU))]
    assert max(zero_at) - sold_out < 2.0, (max(zero_at) - sold_out, dy.state.stock_writes, ks.state.stock_writes)
    assert [figure for _, sku, figure in dy.state.stock_writes if sku == DY_SKU][-1] == 0   # nothing older after


def test_a_shipment_sent_twice_at_the_same_time_is_confirmed_once(linked, manager, platforms):
    """Two jobs sending the same waybill side by side (a carrier's file and a manager's form, say):
    the platform is called once, and the shipment shows confirmed."""
    import threading

    from supply.services.platform_links import record_shipments, send_shipments

    services = linked.application.extensions["coop"]
    stocked_farm(linked, manager, 10)
    link(linked, manager, "douyin", DY_SKU)
    dy = platforms["douyin"]
    dy.add_order("4800000000000003100", [(DY_SKU, 1)])
    push_douyin(linked, ("m-twice", "4800000000000003100"))
    order_id = messages(linked, manager)[0]["result"]["order_id"]
    with services.db.transaction() as session:
        record_shipments(session, 1, [{"order_id": order_id, "carrier_code": "zhongtong", "waybill": "ZT7700009999"}])
    dy.fail_next(1, "slow", seconds=0.3)   # the first call takes a while: the second send arrives meanwhile
    counts = []
    threads = [threading.Thread(target=lambda: counts.append(send_shipments(services, 1, [order_id])))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert dy.state.ship_calls["4800000000000003100"] == 1
    assert sorted((c["confirmed"], c["skipped"], c["failed"]) for c in counts) == [(0, 1, 0), (1, 0, 0)]
    shown = linked.get(f"/api/v1/orders/{order_id}/shipment", headers=manager).get_json()
    assert (shown["status"], shown["attempts"]) == ("confirmed", 1)


def test_a_cooperatives_pushes_are_completed_and_reserved_in_that_cooperative_only(linked, manager, platforms, db):
    """One deployment, two cooperatives on the same Douyin app (a service provider's app, one shop
    each): a push at the second's address is verified, fetched with its shop's token and reserved from
    its own stock; the first cooperative's figures, messages and orders do not move."""
    stocked_farm(linked, manager, 5)
    link(linked, manager, "douyin", DY_SKU)
    second, path = another_cooperative(linked, db, 2, "zhaosu", {**DOUYIN, "shop_id": "88010"})
    stocked_farm(linked, second, 3)
    link(linked, second, "douyin", DY_SKU)
    dy = platforms["douyin"]
    for n in range(4):
        dy.add_order(str(4800000000000003200 + n), [(DY_SKU, 1)])
        assert push_douyin(linked, (f"s-{n}", str(4800000000000003200 + n)), path=path).status_code == 200

    assert figures(linked, second) == {"available": 0, "reserved": 3}
    assert figures(linked, manager) == {"available": 5, "reserved": 0}
    statuses = sorted(m["status"] for m in messages(linked, second))
    assert statuses == ["applied", "applied", "applied", "rejected"]
    assert messages(linked, manager) == []
    with db.transaction() as session:
        from sqlalchemy import func, select

        from supply.db.models import Order

        per_cooperative = dict(session.execute(select(Order.cooperative_id, func.count()).group_by(Order.cooperative_id)).all())
    assert per_cooperative == {2: 4}
    assert dy.calls_of("order.orderDetail") == 4


def test_no_credential_or_token_is_ever_logged_or_answered(linked, manager, platforms, caplog):
    """Through every door of the platform links (connecting an account, authorising the shop, a push
    fetched, listing stock sent, a refused token refreshed, a waybill told), at DEBUG: none of the
    apps' secrets, the shops' tokens or the encryption key appears in a log line or an answer."""
    from supply.services.platform_links import sync_listings_once

    services = linked.application.extensions["coop"]
    ks, dy = platforms["kuaishou"], platforms["douyin"]
    answers = []

    def keep(response):
        answers.append(response.get_data(as_text=True))
        return response

    with caplog.at_level("DEBUG"):
        keep(linked.post("/api/v1/platform-accounts", headers=manager,
                         json={"platform": "youzan", "credentials": YOUZAN, "shop_id": YOUZAN["shop_id"]}))
        stocked_farm(linked, manager, 10)
        link(linked, manager, "kuaishou", KS_SKU, item="ks-item-1")
        link(linked, manager, "douyin", DY_SKU, item="3600000001")
        keep(linked.post("/api/v1/platform-accounts/kuaishou/authorization", headers=manager,
                         json={"code": KUAISHOU["code"]}))
        ks.add_listing(KS_SKU, "ks-item-1", stock=50)
        dy.add_listing(DY_SKU, "3600000001", stock=50)
        ks.add_order("2400000003300", [(KS_SKU, 2)])
        dy.add_order("4800000000000003300", [(DY_SKU, 1)])
        keep(push_kuaishou(linked, "sec-1", "2400000003300"))
        ks.expire_tokens()   # the next call is refused for its token, which is refreshed
        assert sync_listings_once(services)["sent"] == 2
        keep(push_douyin(linked, ("sec-2", "4800000000000003300")))
        order_id = messages(linked, manager, "applied")[0]["result"]["order_id"]
        keep(linked.put(f"/api/v1/orders/{order_id}/shipment", headers=manager,
                        json={"carrier_code": "zhongtong", "waybill": "ZT7700003300"}))
        for path in ("/api/v1/platform-accounts", "/api/v1/platform-listings", "/api/v1/platform-messages",
                     f"/api/v1/orders/{order_id}/shipment"):
            keep(linked.get(path, headers=manager))
    assert ks.calls_of("/oauth2/refresh_token") == 1 and figures(linked, manager)["reserved"] == 3
    secrets = {DOUYIN["app_secret"], KUAISHOU["app_secret"], KUAISHOU["sign_secret"], KUAISHOU["message_key"],
               KUAISHOU["code"], YOUZAN["client_secret"], services.settings.credentials_key,
               *ks.state.tokens, *ks.state.refresh_tokens, *dy.state.tokens, *dy.state.refresh_tokens}
    assert caplog.records   # the DEBUG lines were captured (urllib3's request lines among them)
    for secret in secrets:
        assert secret not in caplog.text, secret
        assert not any(secret in answer for answer in answers), secret

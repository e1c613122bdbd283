"""Bad input: every case gets the error shape of API.md, naming the field, with the right status, and
changes nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.helpers import FARM, PRODUCT, make_farm, make_product, order, stock, stocked_farm

SKU = PRODUCT["sku"]


@pytest.fixture
def seeded(client, manager, host):
    """A farm, a product with 10 confirmed units, a stream and a reserved order: something to disturb."""
    farm = stocked_farm(client, manager, 10)
    stream = client.post("/api/v1/streams", headers=host, json={
        "platform": "douyin", "host": "县长 Wang", "starts_at": "2026-11-23T20:00:00+08:00"}).get_json()
    assert client.post("/api/v1/orders", json=order(external_id="first", lines=[(SKU, 2)]),
                       headers=manager).status_code == 201
    return {"farm_id": farm["id"], "stream_id": stream["id"]}


def snapshot(client, manager, db) -> dict:
    """Everything a bad request could disturb: the figures, the lists, the ledger, and every table's rows."""
    from supply.db.models import Base

    views = {path: client.get(path, headers=manager).get_json() for path in (
        f"/api/v1/products/{SKU}/availability", "/api/v1/products", "/api/v1/farms", "/api/v1/stock/ledger")}
    with db.engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                  for t in Base.metadata.sorted_tables}
    return {"views": views, "counts": counts}


def assert_error_shape(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is None:
        assert "fields" not in error, error
    else:
        assert field in error.get("fields", {}), error
        for name, reasons in error["fields"].items():
            assert isinstance(name, str)
            assert reasons and all(isinstance(r, str) and r for r in reasons), error
    return error


def post_json(client, path, body, headers):
    """Sent as ASCII JSON with \\u escapes, so a lone surrogate reaches the server as JSON allows."""
    return client.post(path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


def with_line(**line) -> dict:
    return {"platform": "douyin", "external_id": "bad-1", "lines": [{"sku": SKU, "quantity": 1, **line}]}


def with_order(**fields) -> dict:
    body = {"platform": "douyin", "external_id": "bad-1", "lines": [{"sku": SKU, "quantity": 1}], **fields}
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


def params(table) -> list:
    """Table rows (id, *values) as pytest params; rows already made with pytest.param pass through."""
    return [pytest.param(*row[1:], id=row[0]) if type(row) is tuple else row for row in table]
ORDERS = "/api/v1/orders"

# (id, path, json body, status, code, field)
ORDER_CASES = [
    ("unknown sku", with_line(sku="NOPE"), 422, "unknown_reference", "lines[0].sku"),
    ("zero quantity", with_line(quantity=0), 422, "validation_error", "lines[0].quantity"),
    ("negative quantity", with_line(quantity=-3), 422, "validation_error", "lines[0].quantity"),
    ("absurd quantity", with_line(quantity=1_000_001), 422, "validation_error", "lines[0].quantity"),
    ("huge quantity", with_line(quantity=10 ** 30), 422, "validation_error", "lines[0].quantity"),
    ("float quantity", with_line(quantity=2.5), 422, "validation_error", "lines[0].quantity"),
    ("integral float quantity", with_line(quantity=2.0), 422, "validation_error", "lines[0].quantity"),
    ("string quantity", with_line(quantity="5"), 422, "validation_error", "lines[0].quantity"),
    ("boolean quantity", with_line(quantity=True), 422, "validation_error", "lines[0].quantity"),
    ("null quantity", with_line(quantity=None), 422, "validation_error", "lines[0].quantity"),
    ("missing quantity", {"platform": "douyin", "external_id": "x", "lines": [{"sku": SKU}]}, 422,
     "validation_error", "lines[0].quantity"),
    ("sku as a number", with_line(sku=500), 422, "validation_error", "lines[0].sku"),
    ("unknown field in a line", with_line(colour="red"), 422, "validation_error", "lines[0].colour"),
    ("a line that is not an object", with_order(lines=[5]), 422, "validation_error", "lines[0]"),
    ("missing lines", with_order(lines=_DROP), 422, "validation_error", "lines"),
    ("no lines", with_order(lines=[]), 422, "validation_error", "lines"),
    ("lines as a string", with_order(lines="NOODLE-500"), 422, "validation_error", "lines"),
    ("too many lines", with_order(lines=[{"sku": SKU, "quantity": 1}] * 101), 422, "validation_error", "lines"),
    ("missing platform", with_order(platform=_DROP), 422, "validation_error", "platform"),
    ("null platform", with_order(platform=None), 422, "validation_error", "platform"),
    ("platform with capitals and spaces", with_order(platform="Dou Yin"), 422, "validation_error", "platform"),
    ("external id as a number", with_order(external_id=12345), 422, "validation_error", "external_id"),
    ("blank external id", with_order(external_id="   "), 422, "validation_error", "external_id"),
    ("external id with a control character", with_order(external_id="a\x00b"), 422, "validation_error",
     "external_id"),
    ("overlong external id", with_order(external_id="x" * 129), 422, "validation_error", "external_id"),
    ("stream id as a string", with_order(stream_id="1"), 422, "validation_error", "stream_id"),
    ("stream id as a boolean", with_order(stream_id=True), 422, "validation_error", "stream_id"),
    ("unknown stream", with_order(stream_id=999_999), 422, "unknown_reference", "stream_id"),
    ("unknown field", with_order(discount=5), 422, "validation_error", "discount"),
    ("buyer name with a control character", with_order(buyer={"name": "张\x1b三"}), 422, "validation_error",
     "buyer.name"),
    ("buyer as a string", with_order(buyer="张三"), 422, "validation_error", "buyer"),
]

PRODUCTS = "/api/v1/products"
FARMS = "/api/v1/farms"


def product(**fields) -> dict:
    body = {**PRODUCT, "sku": "NEW-1", **fields}
    return {k: v for k, v in body.items() if v is not _DROP}


def farm(**fields) -> dict:
    body = {**FARM, **fields}
    return {k: v for k, v in body.items() if v is not _DROP}



PRODUCT_CASES = [
    ("zero weight", product(unit_weight_kg=0), "unit_weight_kg"),
    ("negative weight", product(unit_weight_kg=-0.5), "unit_weight_kg"),
    ("absurd weight", product(unit_weight_kg=1e9), "unit_weight_kg"),
    pytest.param(product(unit_weight_kg="0.5"), "unit_weight_kg", id="weight as a string"),
    ("weight as a boolean", product(unit_weight_kg=True), "unit_weight_kg"),
    ("zero volume", product(unit_volume_l=0), "unit_volume_l"),
    ("cold chain as a string", product(cold_chain="true"), "cold_chain"),
    ("cold chain as a number", product(cold_chain=1), "cold_chain"),
    ("shelf life as a float", product(shelf_life_days=10.5), "shelf_life_days"),
    ("shelf life of zero", product(shelf_life_days=0), "shelf_life_days"),
    ("sku with spaces", product(sku="NEW 1"), "sku"),
    ("missing sku", product(sku=_DROP), "sku"),
    ("null name", product(name=None), "name"),
    ("name with a bell", product(name="苦荞\x07挂面"), "name"),
    ("name with a newline", product(name="line\nbreak"), "name"),
    ("name with a lone surrogate", product(name="bad \ud800 name"), "name"),
    ("blank name", product(name="  "), "name"),
    ("overlong name", product(name="面" * 201), "name"),
    ("unknown field", product(price=12), "price"),
]

FARM_CASES = [
    ("latitude 91", farm(lat=91), "lat"),
    ("longitude 200", farm(lon=200), "lon"),
    ("latitude -90.5", farm(lat=-90.5), "lat"),
    pytest.param(farm(lat="42.5"), "lat", id="latitude as a string"),
    ("longitude as a boolean", farm(lon=False), "lon"),
    ("missing latitude", farm(lat=_DROP), "lat"),
    ("null longitude", farm(lon=None), "lon"),
    ("window end before its start", farm(window_start="12:00", window_end="08:00"), "window_end"),
    ("window end equal to its start", farm(window_start="08:00", window_end="08:00"), "window_end"),
    ("only one end of the window", farm(window_end=_DROP), "window_end"),
    ("window start at 25:00", farm(window_start="25:00"), "window_start"),
    ("phone that is not a phone", farm(phone="call me"), "phone"),
    ("name with an escape sequence", farm(name="\x1b[31mfarm"), "name"),
    ("unknown field", farm(owner="Ma"), "owner"),
]


def adjustment(seeded, **fields) -> dict:
    body = {"farm_id": seeded["farm_id"], "sku": SKU, "delta": 5, "kind": "declared", "reason": "counted", **fields}
    return {k: v for k, v in body.items() if v is not _DROP}


# (id, body builder, status, code, field)
STOCK_CASES = [
    ("zero delta", lambda s: adjustment(s, delta=0), 422, "validation_error", "delta"),
    ("float delta", lambda s: adjustment(s, delta=1.5), 422, "validation_error", "delta"),
    ("string delta", lambda s: adjustment(s, delta="5"), 422, "validation_error", "delta"),
    ("absurd delta", lambda s: adjustment(s, delta=10 ** 12), 422, "validation_error", "delta"),
    ("unknown kind", lambda s: adjustment(s, kind="stolen"), 422, "validation_error", "kind"),
    ("missing reason", lambda s: adjustment(s, reason=_DROP), 422, "validation_error", "reason"),
    ("farm id as a string", lambda s: adjustment(s, farm_id=str(s["farm_id"])), 422, "validation_error", "farm_id"),
    ("unknown farm", lambda s: adjustment(s, farm_id=999_999), 404, "not_found", "farm_id"),
    ("unknown sku", lambda s: adjustment(s, sku="NOPE"), 404, "not_found", "sku"),
    ("confirmed below what is reserved", lambda s: adjustment(s, kind="confirmed", delta=-9), 409,
     "below_reserved", "delta"),
    ("confirmed above what is declared", lambda s: adjustment(s, kind="confirmed", delta=1), 409,
     "below_reserved", "delta"),
]

HOLD_CASES = [
    ("zero quantity", {"sku": SKU, "quantity": 0}, 422, "validation_error", "quantity"),
    ("string quantity", {"sku": SKU, "quantity": "3"}, 422, "validation_error", "quantity"),
    ("more than is available", {"sku": SKU, "quantity": 9}, 409, "insufficient_stock", "quantity"),
    ("unknown sku", {"sku": "NOPE", "quantity": 1}, 404, "not_found", "sku"),
]

BATCH_CASES = [
    ("orders missing", {}, "orders"),
    ("orders empty", {"orders": []}, "orders"),
    ("orders not a list", {"orders": {"a": 1}}, "orders"),
    ("more than 1,000 orders", {"orders": [order(external_id=f"b{i}") for i in range(1001)]}, "orders"),
    ("unknown field", {"orders": [order(external_id="b")], "dry_run": True}, "dry_run"),
]


@pytest.mark.parametrize("body,status,code,field", params(ORDER_CASES))
def test_a_bad_order_is_refused_naming_the_field_and_changes_nothing(client, manager, db, seeded, body, status,
                                                                     code, field):
    before = snapshot(client, manager, db)
    assert_error_shape(post_json(client, ORDERS, body, manager), status, code, field)
    assert snapshot(client, manager, db) == before


@pytest.mark.parametrize("body,field", params(PRODUCT_CASES))
def test_a_bad_product_is_refused_naming_the_field_and_changes_nothing(client, manager, db, seeded, body, field):
    before = snapshot(client, manager, db)
    assert_error_shape(post_json(client, PRODUCTS, body, manager), 422, "validation_error", field)
    assert snapshot(client, manager, db) == before


@pytest.mark.parametrize("body,field", params(FARM_CASES))
def test_a_bad_farm_is_refused_naming_the_field_and_changes_nothing(client, manager, db, seeded, body, field):
    before = snapshot(client, manager, db)
    assert_error_shape(post_json(client, FARMS, body, manager), 422, "validation_error", field)
    assert snapshot(client, manager, db) == before


@pytest.mark.parametrize("build,status,code,field", params(STOCK_CASES))
def test_a_bad_stock_adjustment_is_refused_and_leaves_the_ledger_alone(client, manager, db, seeded, build, status,
                                                                       code, field):
    before = snapshot(client, manager, db)
    response = client.post("/api/v1/stock/adjustments", json=build(seeded), headers=manager)
    assert_error_shape(response, status, code, field)
    assert snapshot(client, manager, db) == before


@pytest.mark.parametrize("body,status,code,field", params(HOLD_CASES))
def test_a_bad_hold_is_refused_and_holds_nothing(client, manager, host, db, seeded, body, status, code, field):
    before = snapshot(client, manager, db)
    response = client.post(f"/api/v1/streams/{seeded['stream_id']}/holds", json=body, headers=host)
    assert_error_shape(response, status, code, field)
    assert snapshot(client, manager, db) == before


@pytest.mark.parametrize("body,field", params(BATCH_CASES))
def test_a_bad_batch_is_refused_whole_and_changes_nothing(client, manager, db, seeded, body, field):
    before = snapshot(client, manager, db)
    response = client.post(f"{ORDERS}/batch", json=body, headers=manager)
    assert_error_shape(response, 422, "validation_error", field)
    assert snapshot(client, manager, db) == before


def test_bad_orders_inside_a_batch_get_the_error_shape_and_reserve_nothing(client, manager, db, seeded):
    bodies = [c[1] for c in ORDER_CASES]
    response = client.post(f"{ORDERS}/batch", json={"orders": bodies}, headers=manager)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert len(results) == len(ORDER_CASES)
    for (name, _body, status, code, field), result in zip(ORDER_CASES, results):
        assert result["status"] == status, (name, result)
        assert result["error"]["code"] == code, (name, result)
        assert field in result["error"]["fields"], (name, result)
    figures = client.get(f"/api/v1/products/{SKU}/availability", headers=manager).get_json()
    assert (figures["reserved"], figures["available"]) == (2, 8)


# Bodies that are not the JSON object the endpoint expects, sent raw: (id, raw body, content type, status, code)
RAW_CASES = [
    ("truncated JSON", b'{"platform": "douyin", "lines": [', "application/json", 400, "malformed_json"),
    ("not JSON at all", b"platform=douyin&sku=NOODLE-500", "application/json", 400, "malformed_json"),
    ("invalid UTF-8", b'{"platform": "\xff\xfe"}', "application/json", 400, "malformed_json"),
    ("a JSON list", b"[1, 2, 3]", "application/json", 422, "validation_error"),
    ("a JSON string", b'"an order"', "application/json", 422, "validation_error"),
    ("JSON null", b"null", "application/json", 422, "validation_error"),
    ("a form post", b"platform=douyin", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("JSON sent as plain text", json.dumps(order()).encode(), "text/plain", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize("raw,content_type,status,code", params(RAW_CASES))
@pytest.mark.parametrize("path", [ORDERS, f"{ORDERS}/batch", PRODUCTS, FARMS])
def test_a_body_that_is_not_a_json_object_is_refused_and_changes_nothing(client, manager, db, seeded, path, raw,
                                                                         content_type, status, code):
    before = snapshot(client, manager, db)
    response = client.post(path, data=raw, headers={**manager, "Content-Type": content_type})
    assert_error_shape(response, status, code)
    assert snapshot(client, manager, db) == before


def test_an_empty_json_body_names_the_missing_fields(client, manager, db, seeded):
    response = client.post(ORDERS, data=b"", headers={**manager, "Content-Type": "application/json"})
    error = assert_error_shape(response, 422, "validation_error", "platform")
    assert {"external_id", "lines"} <= set(error["fields"])


@pytest.fixture
def small_body_client(db, settings):
    from supply.app import create_app
    from supply.wiring import Services

    small = settings.with_(max_body_bytes=2048)
    return create_app(small, services=Services(settings=small, db=db)).test_client()


@pytest.mark.parametrize("path", [ORDERS, f"{ORDERS}/batch", PRODUCTS])
def test_an_oversize_body_is_refused_with_413_and_changes_nothing(small_body_client, client, manager, db, seeded,
                                                                  path):
    before = snapshot(client, manager, db)
    body = {"orders": [order(external_id=f"big-{i}") for i in range(200)]}
    response = small_body_client.post(path, json=body, headers=manager)
    assert_error_shape(response, 413, "body_too_large")
    assert snapshot(client, manager, db) == before
    # Just under the limit is fine.
    assert small_body_client.post(ORDERS, json=order(external_id="small"), headers=manager).status_code == 201


def test_chinese_and_emoji_names_are_accepted_and_returned_intact(client, manager, db):
    name = "苦荞挂面 🍜 500 g（甘肃）👨‍🌾"
    created = make_product(client, manager, sku="EMOJI-1", name=name)
    assert created["name"] == name
    listed = {p["sku"]: p for p in client.get(PRODUCTS, headers=manager).get_json()}
    assert listed["EMOJI-1"]["name"] == name
    farm_name = "马家庄 🐎 哈萨克族牧场"
    assert make_farm(client, manager, name=farm_name)["name"] == farm_name
    raw = client.get(FARMS, headers=manager).get_data()
    assert farm_name.encode("utf-8") in raw  # UTF-8 on the wire, not \u escapes
    body = order(external_id="订单-🍜-1", lines=[("EMOJI-1", 1)])
    body["buyer"] = {"name": "张三 😀", "address": "湖北省 十堰市 竹山县"}
    farm_id = client.get(FARMS, headers=manager).get_json()[0]["id"]
    stock(client, manager, farm_id, "EMOJI-1", 3)
    created_order = post_json(client, ORDERS, body, manager)
    assert created_order.status_code == 201
    fetched = client.get(f"{ORDERS}/{created_order.get_json()['id']}", headers=manager).get_json()
    assert fetched["external_id"] == "订单-🍜-1"
    assert fetched["buyer"]["name"] == "张三 😀"


def test_unknown_sku_availability_is_404_in_the_error_shape(client, manager, seeded):
    assert_error_shape(client.get("/api/v1/products/NOPE/availability", headers=manager), 404, "not_found")


@pytest.mark.parametrize("query,field", [("page_size=abc", "page_size"), ("page_size=0", "page_size"),
                                         ("page_size=20000", "page_size"), ("page=0", "page"),
                                         ("farm_id=-1", "farm_id"), ("before_id=x", "before_id")])
def test_a_bad_query_parameter_names_the_parameter(client, manager, seeded, query, field):
    assert_error_shape(client.get(f"/api/v1/stock/ledger?{query}", headers=manager), 422, "validation_error", field)


@pytest.mark.parametrize("method,path", [("get", "/api/v1/nothing-here"), ("get", "/api/v1/orders/999999"),
                                         ("post", "/api/v1/orders/999999/cancel"), ("get", "/api/v1/farms/999999")])
def test_not_found_is_404_in_the_error_shape(client, manager, seeded, method, path):
    assert_error_shape(getattr(client, method)(path, headers=manager), 404, "not_found")


@pytest.mark.parametrize("method,path", [("delete", PRODUCTS), ("put", ORDERS), ("get", f"{ORDERS}/batch"),
                                         ("patch", "/api/v1/stock/adjustments")])
def test_a_wrong_method_is_405_in_the_error_shape(client, manager, seeded, method, path):
    response = getattr(client, method)(path, headers=manager)
    assert_error_shape(response, 405, "method_not_allowed")
    assert "Allow" in response.headers


def test_an_unexpected_failure_is_a_500_in_the_error_shape_without_internals(app, manager):
    @app.get("/api/v1/test-only/explode")
    def explode():
        raise RuntimeError("secret internals: password=hunter2")

    response = app.test_client().get("/api/v1/test-only/explode", headers=manager)
    error = assert_error_shape(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "secret" not in error["message"]

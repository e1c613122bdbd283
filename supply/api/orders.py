from __future__ import annotations

import functools

import orjson
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from supply.api.auth import requires
from supply.api.combiner import OrderCombiner, order_combiner_of
from supply.api.context import services
from supply.api.errors import domain_error_body, error_body, flatten_messages
from supply.api.order_shape import LineOut, OrderOut, order_out
from supply.api.plain_orders import plain_order
from supply.api.schemas import ErrorSchema, Id, Quantity, Text
from supply.api.util import coop_id, json_response
from supply.domain.rules import MAX_LINES_PER_ORDER, OrderLineRequest, OrderRequest
from supply.services.orders import cancel_order, get_order, record_orders

blp = Blueprint("orders", __name__, url_prefix="/api/v1/orders", description="Orders from livestreams")

MAX_BATCH = 1000
PLATFORM = validate.Regexp(r"^[a-z0-9_\-]{1,40}$", error="lowercase letters, digits, '_' and '-' only")


class LineIn(Schema):
    sku = Text(64, required=True)
    quantity = Quantity(required=True)


class BuyerIn(Schema):
    name = Text(100, load_default=None)
    phone = Text(40, load_default=None)
    address = Text(500, load_default=None)


class OrderIn(Schema):
    platform = fields.String(required=True, validate=PLATFORM)
    external_id = Text(128, required=True)
    stream_id = Id(load_default=None, allow_none=True)
    lines = fields.List(fields.Nested(LineIn), required=True,
                        validate=validate.Length(1, MAX_LINES_PER_ORDER))
    buyer = fields.Nested(BuyerIn, load_default=None, allow_none=True,
                          metadata={"description": "personal data: seen by managers only"})


class BatchIn(Schema):
    orders = fields.List(fields.Dict(), required=True, validate=validate.Length(1, MAX_BATCH),
                         metadata={"description": f"up to {MAX_BATCH} orders, each as POST /orders"})


class LineDetailOut(LineOut):
    allocated = fields.Integer(metadata={"description": "units assigned to a farm pickup, not yet collected"})
    backordered = fields.Integer(metadata={"description": "units no farm could supply"})
    collected = fields.Integer(metadata={"description": "units picked up from farms"})


class AllocationOut(Schema):
    order_line_id = fields.Integer()
    pickup_id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    date = fields.Date()
    quantity = fields.Integer()
    pickup_status = fields.String()


class OrderShipmentOut(Schema):
    carrier_code = fields.String()
    waybill = fields.String()
    status = fields.String(metadata={"description": "pending, confirmed (the platform was told) or failed"})
    confirmed_at = fields.DateTime(allow_none=True)


class OrderDetailOut(OrderOut):
    lines = fields.List(fields.Nested(LineDetailOut))
    buyer = fields.Dict(allow_none=True, metadata={"description": "personal data: managers only"})
    allocations = fields.List(fields.Nested(AllocationOut),
                              metadata={"description": "which farm supplies which units"})
    shipment = fields.Nested(OrderShipmentOut, allow_none=True,
                             metadata={"description": "the waybill given for the order, once the goods left the hub"})


class BatchResult(Schema):
    status = fields.Integer(metadata={"description": "201, 200, 409 or 422 as for a single order"})
    order = fields.Nested(OrderOut)
    error = fields.Dict()


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchResult))


def to_request(data: dict) -> OrderRequest:
    return OrderRequest(platform=data["platform"], external_id=data["external_id"], stream_id=data["stream_id"],
                        lines=order_lines(data), buyer=buyer_of(data))


def order_lines(data: dict) -> tuple[OrderLineRequest, ...]:
    """The lines of a loaded body (`LineIn` each)."""
    return tuple(OrderLineRequest(line["sku"], line["quantity"]) for line in data["lines"])


def buyer_of(data: dict) -> dict | None:
    """The buyer of a loaded body (`BuyerIn`), without the parts not given; None when nothing is."""
    return {k: v for k, v in (data.get("buyer") or {}).items() if v is not None} or None


def order_combiner() -> OrderCombiner:
    """The app's combiner of concurrent single orders (one per app and process)."""
    return order_combiner_of(services())


def outcome_result(outcome) -> dict:
    if outcome.kind == "created":
        return {"status": 201, "order": order_out(outcome.order)}
    if outcome.kind == "duplicate":
        return {"status": 200, "order": order_out(outcome.order)}
    status = 422 if outcome.kind == "invalid" else 409
    return {"status": status, "error": domain_error_body(outcome.error)["error"]}


# --- the plain path ---------------------------------------------------------------------------------
# /orders/batch reads each plainly valid order with `plain_order` (supply/api/plain_orders.py) and
# answers with `order_out` (supply/api/order_shape.py); anything else goes through the schemas.


def _json_body():
    """The request's JSON body, or None when it is not plainly JSON (the full way then handles it)."""
    if request.mimetype != "application/json":
        return None
    try:
        return orjson.loads(request.get_data(cache=True))
    except orjson.JSONDecodeError:
        return None


def plain_first(attempt):
    """Try `attempt()` before the documented view; it answers, or returns None to let the view do it."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            response = attempt()
            return view(*args, **kwargs) if response is None else response

        return wrapper

    return decorator


def _plain_batch():
    data = _json_body()
    if type(data) is not dict or data.keys() != {"orders"} or type(data["orders"]) is not list \
            or not 1 <= len(data["orders"]) <= MAX_BATCH or not all(type(o) is dict for o in data["orders"]):
        return None
    return json_response(record_batch(data["orders"]), 200)


def record_batch(raw_orders: list[dict]) -> dict:
    """Each order of a batch validated on its own, the valid ones recorded in one transaction."""
    results: list[dict | None] = [None] * len(raw_orders)
    valid: list[tuple[int, OrderRequest]] = []
    schema = None
    for index, raw in enumerate(raw_orders):
        order = plain_order(raw)
        if order is None:
            schema = schema or OrderIn()
            try:
                order = to_request(schema.load(raw))
            except ValidationError as err:
                results[index] = {"status": 422, "error": error_body(
                    "validation_error", "the order has invalid fields", flatten_messages(err.messages))["error"]}
                continue
        valid.append((index, order))
    if valid:
        cooperative_id, requests = coop_id(), [r for _, r in valid]
        outcomes = services().db.run(lambda session: record_orders(session, cooperative_id, requests))
        for (index, _), outcome in zip(valid, outcomes):
            results[index] = outcome_result(outcome)
    return {"results": results}


@blp.route("")
class Orders(MethodView):
    # Plainly valid orders from verified managers are answered before Flask, in supply/api/fastlane.py.
    @requires("manager")
    @blp.arguments(OrderIn)
    @blp.response(201, OrderOut)
    @blp.alt_response(200, schema=OrderOut, description="the same order sent again: the first answer")
    @blp.alt_response(409, schema=ErrorSchema, description="insufficient_stock or conflicting_duplicate")
    def post(self, data):
        outcome = order_combiner().record(coop_id(), to_request(data))
        if outcome.error is not None:
            raise outcome.error
        return outcome.order, (201 if outcome.kind == "created" else 200)


@blp.route("/batch")
class Batch(MethodView):
    @requires("manager")
    @plain_first(_plain_batch)
    @blp.arguments(BatchIn)
    @blp.response(200, BatchOut)
    def post(self, data):
        return json_response(record_batch(data["orders"]), 200)


@blp.route("/<int(max=9223372036854775807):order_id>")
class OrderById(MethodView):
    @requires("manager")
    @blp.response(200, OrderDetailOut)
    def get(self, order_id):
        with services().db.transaction() as session:
            return get_order(session, coop_id(), order_id)


@blp.route("/<int(max=9223372036854775807):order_id>/cancel")
class CancelOrder(MethodView):
    @requires("manager")
    @blp.response(200, OrderOut)
    def post(self, order_id):
        with services().db.transaction() as session:
            return cancel_order(session, coop_id(), order_id)

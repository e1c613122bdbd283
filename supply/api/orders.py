from __future__ import annotations

import threading

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from supply.api.auth import requires
from supply.api.context import services
from supply.api.errors import domain_error_body, error_body, flatten_messages
from supply.api.schemas import ErrorSchema, Id, Quantity, Text
from supply.api.util import coop_id
from supply.domain.rules import MAX_LINES_PER_ORDER, OrderLineRequest, OrderRequest
from supply.services.orders import OrderCombiner, cancel_order, get_order, record_orders

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


class LineOut(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    from_hold = fields.Integer(metadata={"description": "units drawn from the stream's hold"})
    reserved = fields.Integer(metadata={"description": "units currently reserved"})


class ShortLine(Schema):
    line = fields.Integer()
    sku = fields.String()
    requested = fields.Integer()
    available = fields.Integer()
    short_by = fields.Integer()


class OrderOut(Schema):
    id = fields.Integer()
    platform = fields.String()
    external_id = fields.String()
    stream_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "reserved, rejected or cancelled"})
    created_at = fields.DateTime()
    lines = fields.List(fields.Nested(LineOut))
    short_lines = fields.List(fields.Nested(ShortLine))


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


class OrderDetailOut(OrderOut):
    lines = fields.List(fields.Nested(LineDetailOut))
    buyer = fields.Dict(allow_none=True, metadata={"description": "personal data: managers only"})
    allocations = fields.List(fields.Nested(AllocationOut),
                              metadata={"description": "which farm supplies which units"})


class BatchResult(Schema):
    status = fields.Integer(metadata={"description": "201, 200, 409 or 422 as for a single order"})
    order = fields.Nested(OrderOut)
    error = fields.Dict()


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchResult))


def to_request(data: dict) -> OrderRequest:
    buyer = {k: v for k, v in (data.get("buyer") or {}).items() if v is not None} or None
    return OrderRequest(platform=data["platform"], external_id=data["external_id"], stream_id=data["stream_id"],
                        lines=tuple(OrderLineRequest(l["sku"], l["quantity"]) for l in data["lines"]),
                        buyer=buyer)


_combiner_lock = threading.Lock()


def order_combiner() -> OrderCombiner:
    """The app's combiner of concurrent single orders (one per app and process)."""
    ctx = services()
    combiner = ctx.extras.get("order_combiner")
    if combiner is None:
        with _combiner_lock:
            combiner = ctx.extras.setdefault("order_combiner", OrderCombiner(ctx.db))
    return combiner


def outcome_result(outcome) -> dict:
    if outcome.kind == "created":
        return {"status": 201, "order": outcome.order}
    if outcome.kind == "duplicate":
        return {"status": 200, "order": outcome.order}
    status = 422 if outcome.kind == "invalid" else 409
    return {"status": status, "error": domain_error_body(outcome.error)["error"]}


@blp.route("")
class Orders(MethodView):
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
    @blp.arguments(BatchIn)
    @blp.response(200, BatchOut)
    def post(self, data):
        results: list[dict | None] = [None] * len(data["orders"])
        valid: list[tuple[int, OrderRequest]] = []
        schema = OrderIn()
        for index, raw in enumerate(data["orders"]):
            try:
                valid.append((index, to_request(schema.load(raw))))
            except ValidationError as err:
                results[index] = {"status": 422, "error": error_body(
                    "validation_error", "the order has invalid fields", flatten_messages(err.messages))["error"]}
        if valid:
            with services().db.transaction() as session:
                outcomes = record_orders(session, coop_id(), [r for _, r in valid])
            for (index, _), outcome in zip(valid, outcomes):
                results[index] = outcome_result(outcome)
        return {"results": results}


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

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from supply.api.auth import requires
from supply.api.context import services
from supply.api.pages import paginated
from supply.api.schemas import Bool, Int, Number, QueryId, Text
from supply.api.util import coop_id
from supply.services.catalog import ProductInput, list_products, register_product
from supply.services.stock import get_availability

blp = Blueprint("products", __name__, url_prefix="/api/v1/products", description="Products (SKUs)")


class ProductIn(Schema):
    sku = fields.String(required=True, validate=[validate.Length(1, 64),
                                                 validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
                                                                 error="letters, digits, '.', '_' and '-' only")])
    name = Text(required=True)
    unit = Text(32, required=True)
    unit_weight_kg = Number(required=True,
                                  validate=validate.Range(min=0, max=5000, min_inclusive=False))
    unit_volume_l = Number(required=True,
                                 validate=validate.Range(min=0, max=10000, min_inclusive=False))
    cold_chain = Bool(load_default=False)
    shelf_life_days = Int(1, 3650, load_default=None, allow_none=True)


class ProductOut(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    unit_weight_kg = fields.Float()
    unit_volume_l = fields.Float()
    cold_chain = fields.Boolean()
    shelf_life_days = fields.Integer(allow_none=True)


class AvailabilityQuery(Schema):
    stream_id = QueryId(load_default=None)


class FarmAvailability(Schema):
    farm_id = fields.Integer(metadata={"description": "managers only"})
    farm_name = fields.String(metadata={"description": "managers only"})
    declared = fields.Integer()
    confirmed = fields.Integer()
    allocated = fields.Integer()


class StreamHoldSummary(Schema):
    stream_id = fields.Integer()
    quantity = fields.Integer()
    remaining = fields.Integer()


class AvailabilityOut(Schema):
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    available = fields.Integer(metadata={"description": "units that can be promised now"})
    confirmed = fields.Integer()
    declared = fields.Integer()
    reserved = fields.Integer()
    held = fields.Integer()
    by_farm = fields.List(fields.Nested(FarmAvailability))
    holds = fields.List(fields.Nested(StreamHoldSummary))
    held_for_stream = fields.Integer()
    available_for_stream = fields.Integer()


@blp.route("")
class Products(MethodView):
    @requires("manager")
    @blp.arguments(ProductIn)
    @blp.response(201, ProductOut)
    def post(self, data):
        with services().db.transaction() as session:
            return register_product(session, coop_id(), ProductInput(**data))

    @requires("manager", "host")
    @blp.response(200, ProductOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return list_products(session, coop_id())


@blp.route("/<string:sku>/availability")
class Availability(MethodView):
    @requires("host", "manager")
    @blp.etag   # a page or client polling during a spike gets 304 while nothing moved
    @blp.arguments(AvailabilityQuery, location="query")
    @blp.response(200, AvailabilityOut)
    def get(self, query, sku):
        with services().db.transaction() as session:
            return get_availability(session, coop_id(), sku, farm_names=g.principal.role == "manager",
                                    stream_id=query["stream_id"])

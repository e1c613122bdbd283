from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from supply.api.auth import requires
from supply.api.context import services
from supply.api.schemas import Quantity, Text
from supply.api.util import coop_id
from supply.services.streams import create_stream, place_hold

blp = Blueprint("streams", __name__, url_prefix="/api/v1/streams", description="Livestreams and their holds")


class StreamIn(Schema):
    platform = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_\-]{1,40}$"))
    host = Text(required=True)
    title = Text(300, load_default=None)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(load_default=None)

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("ends_at") is not None and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")


class StreamHoldOut(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    remaining = fields.Integer()


class StreamOut(Schema):
    id = fields.Integer()
    platform = fields.String()
    host = fields.String()
    title = fields.String(allow_none=True)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    holds = fields.List(fields.Nested(StreamHoldOut))


class HoldIn(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    quantity = Quantity(required=True)


class HoldOut(Schema):
    stream_id = fields.Integer()
    sku = fields.String()
    quantity = fields.Integer(metadata={"description": "total held for the stream"})
    remaining = fields.Integer(metadata={"description": "not yet drawn by the stream's orders"})


@blp.route("")
class Streams(MethodView):
    @requires("manager", "host")
    @blp.arguments(StreamIn)
    @blp.response(201, StreamOut)
    def post(self, data):
        with services().db.transaction() as session:
            return create_stream(session, coop_id(), **data)


@blp.route("/<int:stream_id>/holds")
class Holds(MethodView):
    @requires("manager", "host")
    @blp.arguments(HoldIn)
    @blp.response(201, HoldOut)
    def post(self, data, stream_id):
        with services().db.transaction() as session:
            return place_hold(session, coop_id(), stream_id, **data)

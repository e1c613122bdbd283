from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from supply.api.auth import requires
from supply.api.context import services
from supply.api.pages import paginated
from supply.api.schemas import Number, Text
from supply.api.util import coop_id
from supply.services.catalog import FarmInput, get_farm, list_farms, register_farm

blp = Blueprint("farms", __name__, url_prefix="/api/v1/farms", description="Member farms")


class FarmIn(Schema):
    name = Text(required=True)
    lat = Number(required=True, validate=validate.Range(-90, 90))
    lon = Number(required=True, validate=validate.Range(-180, 180))
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9][0-9 \-]{4,30}$", error="not a phone number"),
                          load_default=None, allow_none=True)
    window_start = fields.Time(load_default=None, allow_none=True, metadata={"description": "local time HH:MM"})
    window_end = fields.Time(load_default=None, allow_none=True)

    @validates_schema
    def _window(self, data, **_):
        start, end = data.get("window_start"), data.get("window_end")
        if (start is None) != (end is None):
            raise ValidationError("give both ends of the pickup window or neither", "window_end")
        if start is not None and start >= end:
            raise ValidationError("must be after window_start", "window_end")


class FarmOut(Schema):
    id = fields.Integer()
    name = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    phone = fields.String(allow_none=True)
    window_start = fields.Time(allow_none=True)
    window_end = fields.Time(allow_none=True)
    node_id = fields.Integer(allow_none=True, metadata={"description": "road node the farm snapped to"})
    snap_distance_m = fields.Float(allow_none=True)


@blp.route("")
class Farms(MethodView):
    @requires("manager")
    @blp.arguments(FarmIn)
    @blp.response(201, FarmOut)
    def post(self, data):
        ctx = services()
        with ctx.db.transaction() as session:
            return register_farm(session, coop_id(), FarmInput(**data), ctx.snapper)

    @requires("manager")
    @blp.response(200, FarmOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return list_farms(session, coop_id())


@blp.route("/<int:farm_id>")
class FarmById(MethodView):
    @requires("manager")
    @blp.response(200, FarmOut)
    def get(self, farm_id):
        with services().db.transaction() as session:
            return get_farm(session, coop_id(), farm_id)

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from supply.api.auth import requires
from supply.api.context import services
from supply.api.pages import paginated, window
from supply.api.schemas import Id, Int, QueryId, QueryInt, Text
from supply.api.util import actor, coop_id
from supply.domain.rules import MAX_STOCK_DELTA, STOCK_KINDS
from supply.services.stock import adjust_stock, count_ledger, list_ledger

blp = Blueprint("stock", __name__, url_prefix="/api/v1/stock", description="The stock ledger")


def _nonzero(value: int) -> None:
    if value == 0:
        raise ValidationError("must not be zero")


class AdjustmentIn(Schema):
    farm_id = Id(required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    delta = Int(-MAX_STOCK_DELTA, MAX_STOCK_DELTA, required=True, validate_also=_nonzero)
    kind = fields.String(required=True, validate=validate.OneOf(STOCK_KINDS))
    reason = Text(500, required=True)


class AdjustmentOut(Schema):
    entry_id = fields.Integer()
    farm_id = fields.Integer()
    sku = fields.String()
    kind = fields.String()
    delta = fields.Integer()
    reason = fields.String()
    declared = fields.Integer()
    confirmed = fields.Integer()
    allocated = fields.Integer()
    created_at = fields.DateTime()


class LedgerQuery(Schema):
    farm_id = QueryId(load_default=None)
    sku = fields.String(load_default=None)
    before_id = QueryInt(1, load_default=None, metadata={"description": "only entries older than this one"})


class LedgerEntryOut(Schema):
    id = fields.Integer()
    farm_id = fields.Integer()
    sku = fields.String()
    kind = fields.String()
    delta = fields.Integer()
    reason = fields.String()
    actor = fields.String()
    ref = fields.String(allow_none=True)
    created_at = fields.DateTime()


@blp.route("/adjustments")
class Adjustments(MethodView):
    @requires("manager")
    @blp.arguments(AdjustmentIn)
    @blp.response(201, AdjustmentOut)
    def post(self, data):
        with services().db.transaction() as session:
            return adjust_stock(session, coop_id(), actor=actor(), **data)


@blp.route("/ledger")
class Ledger(MethodView):
    @requires("manager")
    @blp.arguments(LedgerQuery, location="query")
    @blp.response(200, LedgerEntryOut(many=True))
    @paginated(blp, in_query=True)
    def get(self, query, pagination_parameters):
        """The newest entries first."""
        with services().db.transaction() as session:
            return list_ledger(session, coop_id(), **query,
                               **window(pagination_parameters, count_ledger(session, coop_id(), **query)))

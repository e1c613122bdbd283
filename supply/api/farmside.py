"""The farms' side: farm-gate prices, statements and the payout file, traceability and recalls,
notices to farms. Managers only: hosts and drivers never see any of it."""
from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from supply.api.auth import requires
from supply.api.context import services
from supply.api.schemas import Int, QueryId, Text
from supply.api.util import actor, coop_id
from supply.i18n import LOCALES
from supply.services import prices, statements

blp = Blueprint("farmside", __name__, url_prefix="/api/v1", description="The farms' side: prices, statements, "
                "traceability and recalls, notices")

MAX_FEN = 10**12
FILES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "pdf": "application/pdf", "json": "application/json"}


def _file_doc(description: str, *kinds: str) -> dict:
    return {"responses": {"200": {"description": description, "content": {
        FILES[k]: {"schema": {"type": "string", "format": "binary"} if k != "json" else {"type": "object"}}
        for k in kinds}}}}


class PriceIn(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    grade = Text(16, load_default=None, metadata={"description": "omit for the price of any grade"})
    valid_from = fields.Date(required=True)
    price_fen = Int(0, MAX_FEN, required=True, metadata={"description": "fen per unit, or per kg (basis)"})
    basis = fields.String(load_default="unit", validate=validate.OneOf(prices.BASES))
    note = Text(500, load_default=None)


class PriceOut(Schema):
    id = fields.Integer()
    sku = fields.String()
    product_name = fields.String()
    grade = fields.String(allow_none=True)
    valid_from = fields.Date()
    price_fen = fields.Integer()
    basis = fields.String()
    note = fields.String(allow_none=True)
    actor = fields.String()
    created_at = fields.DateTime()


class PriceQuery(Schema):
    sku = fields.String(load_default=None, validate=validate.Length(1, 64))
    on = fields.Date(load_default=None, metadata={"description": "only the prices holding on this day"})


class PeriodQuery(Schema):
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    farm_id = QueryId(load_default=None)
    lang = fields.String(load_default="zh", validate=validate.OneOf(LOCALES))

    @validates_schema
    def _ordered(self, data, **_):
        if data["date_to"] < data["date_from"]:
            raise ValidationError("must not be before date_from", "date_to")


class ExportQuery(PeriodQuery):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx", "pdf")))


class PayoutQuery(PeriodQuery):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class StatementLineOut(Schema):
    day = fields.Date()
    sku = fields.String()
    product_name = fields.String()
    unit = fields.String()
    grade = fields.String(allow_none=True)
    quantity = fields.Integer()
    price_fen = fields.Integer(allow_none=True)
    basis = fields.String(allow_none=True)
    amount_fen = fields.Integer()
    priced = fields.Boolean()


class RejectOut(Schema):
    day = fields.Date()
    sku = fields.String()
    product_name = fields.String()
    unit = fields.String()
    reason = fields.String()
    grade = fields.String(allow_none=True)
    quantity = fields.Integer()


class StatementOut(Schema):
    cooperative_name = fields.String()
    farm_id = fields.Integer()
    farm_name = fields.String()
    phone = fields.String(allow_none=True)
    date_from = fields.Date()
    date_to = fields.Date()
    lines = fields.List(fields.Nested(StatementLineOut))
    rejects = fields.List(fields.Nested(RejectOut), metadata={"description": "refused at the farm gate: not paid"})
    total_quantity = fields.Integer()
    total_rejected = fields.Integer()
    unpriced_quantity = fields.Integer(metadata={"description": "units taken on days with no price set"})
    total_fen = fields.Integer()
    rounding = fields.String()


class PayoutOut(Schema):
    farm_id = fields.Integer()
    farm_name = fields.String()
    phone = fields.String(allow_none=True)
    amount_fen = fields.Integer()
    amount_yuan = fields.String()
    period = fields.String()


def _attachment(body, kind: str, name: str) -> Response:
    return Response(body, mimetype=FILES[kind].split(";")[0], content_type=FILES[kind],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


@blp.route("/farm-gate-prices")
class FarmGatePrices(MethodView):
    @requires("manager")
    @blp.arguments(PriceIn)
    @blp.response(201, PriceOut)
    def post(self, data):
        """A farm-gate price from a date. Never edited: the same product, grade and date again is 409
        `price_exists`; set the new price from another date (the history is kept)."""
        with services().db.transaction() as session:
            return prices.set_price(session, coop_id(), actor=actor(), **data)

    @requires("manager")
    @blp.arguments(PriceQuery, location="query")
    @blp.response(200, PriceOut(many=True))
    def get(self, query):
        """The price history (or the prices holding on a day)."""
        with services().db.transaction() as session:
            return prices.list_prices(session, coop_id(), **query)


@blp.route("/statements")
class Statements(MethodView):
    @requires("manager")
    @blp.arguments(PeriodQuery, location="query")
    @blp.response(200, StatementOut(many=True))
    def get(self, query):
        """Per farm and period (pickup days, inclusive): taken by day, product and grade, price, amount;
        rejects (not paid); totals in fen."""
        with services().db.transaction() as session:
            return statements.build_statements(session, coop_id(), query["date_from"], query["date_to"],
                                               farm_id=query["farm_id"])


@blp.route("/statements/export")
class StatementsExport(MethodView):
    @requires("manager")
    @blp.arguments(ExportQuery, location="query")
    @blp.doc(**_file_doc("the statements as CSV, XLSX or PDF (Chinese by default; lang=en)", "csv", "xlsx", "pdf"))
    def get(self, query):
        with services().db.transaction() as session:
            found = statements.build_statements(session, coop_id(), query["date_from"], query["date_to"],
                                                farm_id=query["farm_id"])
        render = {"csv": statements.statements_csv, "xlsx": statements.statements_xlsx,
                  "pdf": statements.statements_pdf}[query["format"]]
        name = f"statements-{query['date_from'].isoformat()}-{query['date_to'].isoformat()}"
        return _attachment(render(found, query["lang"]), query["format"], name)


@blp.route("/payouts")
class Payouts(MethodView):
    @requires("manager")
    @blp.arguments(PayoutQuery, location="query")
    @blp.response(200, PayoutOut(many=True))
    @blp.doc(**_file_doc("one row per farm due money; totals equal the statements' to the fen", "json", "csv"))
    def get(self, query):
        """The payout file for the bank transfer: one row per farm, its statement's total."""
        with services().db.transaction() as session:
            found = statements.build_statements(session, coop_id(), query["date_from"], query["date_to"],
                                                farm_id=query["farm_id"])
        if query["format"] == "csv":
            name = f"payout-{query['date_from'].isoformat()}-{query['date_to'].isoformat()}"
            return _attachment(statements.payout_csv(found, query["lang"]), "csv", name)
        return statements.payout_rows(found)

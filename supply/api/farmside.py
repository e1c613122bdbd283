"""The farms' side: farm-gate prices, statements and the payout file, traceability and recalls,
notices to farms. Managers only: hosts and drivers never see any of it."""
from __future__ import annotations

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from supply.api.auth import requires
from supply.api.context import services
from supply.api.jobs import JobOut
from supply.api.pages import paginated, window
from supply.api.schemas import Int, QueryId, Text
from supply.api.util import actor, coop_id
from supply.i18n import LOCALES
from supply.services import notices as _notices  # noqa: F401 (registers the notify_farms job)
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
    @paginated(blp)
    def get(self, query):
        """The price history (or the prices holding on a day)."""
        with services().db.transaction() as session:
            return prices.list_prices(session, coop_id(), **query)


@blp.route("/statements")
class Statements(MethodView):
    @requires("manager")
    @blp.arguments(PeriodQuery, location="query")
    @blp.response(200, StatementOut(many=True))
    @paginated(blp)
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
    @blp.arguments(PeriodQuery, location="query")
    @blp.response(200, PayoutOut(many=True))
    @paginated(blp)
    def get(self, query):
        """The payout for the bank transfer: one row per farm due money, its statement's total (the
        totals equal the statements' to the fen)."""
        with services().db.transaction() as session:
            return statements.payout_rows(statements.build_statements(
                session, coop_id(), query["date_from"], query["date_to"], farm_id=query["farm_id"]))


@blp.route("/payouts.csv")
class PayoutsCsv(MethodView):
    @requires("manager")
    @blp.arguments(PeriodQuery, location="query")
    @blp.doc(**_file_doc("the payout file: one row per farm due money, in fen and in yuan", "csv"))
    def get(self, query):
        with services().db.transaction() as session:
            found = statements.build_statements(session, coop_id(), query["date_from"], query["date_to"],
                                                farm_id=query["farm_id"])
        name = f"payout-{query['date_from'].isoformat()}-{query['date_to'].isoformat()}"
        return _attachment(statements.payout_csv(found, query["lang"]), "csv", name)


# --- traceability and recall --------------------------------------------------------------------------


class TraceQuery(Schema):
    farm_id = QueryId(required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)

    @validates_schema
    def _ordered(self, data, **_):
        if data["date_to"] < data["date_from"]:
            raise ValidationError("must not be before date_from", "date_to")


class TracedOut(Schema):
    order_id = fields.Integer()
    platform = fields.String()
    platform_order_id = fields.String()
    order_line_id = fields.Integer()
    pickup_id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    sku = fields.String()
    day = fields.Date()
    quantity = fields.Integer(metadata={"description": "units of this pickup the order line received"})
    waiting_at_farm = fields.Integer(metadata={"description": "units allocated from this pickup, not collected yet"})
    shipped = fields.Boolean(metadata={"description": "the order left the hub with a waybill"})


class SourceOut(Schema):
    order_line_id = fields.Integer()
    pickup_id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    sku = fields.String()
    day = fields.Date()
    collected = fields.Integer()
    waiting_at_farm = fields.Integer()


class TraceBackOut(Schema):
    order_id = fields.Integer()
    platform = fields.String()
    platform_order_id = fields.String()
    recalls = fields.List(fields.Integer())
    sources = fields.List(fields.Nested(SourceOut))


class RecallIn(TraceQuery):
    farm_id = Int(1, 2**31 - 1, required=True)
    reason = Text(500, required=True)


class RecallLineOut(Schema):
    order_id = fields.Integer()
    platform = fields.String()
    platform_order_id = fields.String()
    order_line_id = fields.Integer()
    day = fields.Date()
    quantity = fields.Integer()
    held_at_hub = fields.Integer()


class RecallOut(Schema):
    id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    sku = fields.String()
    date_from = fields.Date()
    date_to = fields.Date()
    reason = fields.String()
    actor = fields.String()
    created_at = fields.DateTime()
    orders = fields.Integer()
    units = fields.Integer()
    held_at_hub = fields.Integer(metadata={"description": "units still at the hub, held from dispatch"})
    waiting_at_farm = fields.Integer(metadata={"description": "units of the farm, product and days allocated "
                                                              "but not collected yet (confirm the pickup short)"})
    lines = fields.List(fields.Nested(RecallLineOut))


class RecallCsvQuery(Schema):
    with_buyers = fields.Boolean(load_default=False,
                                 metadata={"description": "add buyers' name, phone, address (the export is logged)"})
    lang = fields.String(load_default="zh", validate=validate.OneOf(LOCALES))


class ExportOut(Schema):
    id = fields.Integer()
    actor = fields.String()
    what = fields.String()
    recall_id = fields.Integer(allow_none=True)
    rows = fields.Integer()
    with_buyers = fields.Boolean()
    created_at = fields.DateTime()


@blp.route("/trace/farm-units")
class TraceForward(MethodView):
    @requires("manager")
    @blp.arguments(TraceQuery, location="query")
    @blp.response(200, TracedOut(many=True))
    @paginated(blp)
    def get(self, query):
        """Every order that received units of this farm's product collected on these pickup days."""
        from supply.services.recall import trace_forward

        with services().db.transaction() as session:
            return trace_forward(session, coop_id(), **query)


@blp.route("/trace/orders/<int(max=9223372036854775807):order_id>")
class TraceBack(MethodView):
    @requires("manager")
    @blp.response(200, TraceBackOut)
    def get(self, order_id):
        """Where an order's units came from: farm, product, pickup day; and the recalls that name it."""
        from supply.services.recall import trace_back

        with services().db.transaction() as session:
            return trace_back(session, coop_id(), order_id)


@blp.route("/recalls")
class Recalls(MethodView):
    @requires("manager")
    @blp.arguments(RecallIn)
    @blp.response(201, RecallOut)
    def post(self, data):
        """Recall a farm's product over pickup days: the orders that received its units are listed and
        marked, and what is still at the hub is held from dispatch (a waybill for it is refused)."""
        from supply.services.recall import create_recall

        with services().db.transaction() as session:
            return create_recall(session, coop_id(), actor=actor(), **data)


@blp.route("/recalls/<int:recall_id>")
class RecallById(MethodView):
    @requires("manager")
    @blp.response(200, RecallOut)
    def get(self, recall_id):
        from supply.services.recall import get_recall

        with services().db.transaction() as session:
            return get_recall(session, coop_id(), recall_id)


@blp.route("/recalls/<int:recall_id>/orders.csv")
class RecallOrdersCsv(MethodView):
    @requires("manager")
    @blp.arguments(RecallCsvQuery, location="query")
    @blp.doc(**_file_doc("the orders for the platforms' after-sales teams; buyers only with with_buyers "
                         "(every export is logged)", "csv"))
    def get(self, query, recall_id):
        from supply.services.recall import recall_csv

        with services().db.transaction() as session:
            text = recall_csv(session, coop_id(), recall_id, with_buyers=query["with_buyers"], actor=actor(),
                              locale=query["lang"])
        return _attachment(text, "csv", f"recall-{recall_id}-orders")


@blp.route("/personal-data-exports")
class PersonalDataExports(MethodView):
    @requires("manager")
    @blp.response(200, ExportOut(many=True))
    @paginated(blp, in_query=True)
    def get(self, pagination_parameters):
        """The log of exports (who, when, what, how many rows, with buyers or not), the newest first."""
        from supply.services.recall import count_exports, list_exports

        with services().db.transaction() as session:
            return list_exports(session, coop_id(), **window(pagination_parameters, count_exports(session, coop_id())))


# --- notices to farms ---------------------------------------------------------------------------------


class NoticesIn(Schema):
    date = fields.Date(required=True, metadata={"description": "the day of the published plan"})
    lang = fields.String(load_default="zh", validate=validate.OneOf(LOCALES))


class NoticeQuery(Schema):
    date = fields.Date(required=True)
    farm_id = QueryId(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(
        ("pending", "sent", "failed", "invalid_number", "rate_limited", "written")))


class DayQuery(Schema):
    date = fields.Date(required=True)
    lang = fields.String(load_default="zh", validate=validate.OneOf(LOCALES))


class NoticeOut(Schema):
    id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    day = fields.Date()
    plan_id = fields.Integer(allow_none=True)
    kind = fields.String()
    body = fields.String()
    phone = fields.String(allow_none=True)
    channel = fields.String()
    gateway = fields.String(allow_none=True)
    status = fields.String()
    segments = fields.Integer(metadata={"description": "SMS parts the text takes (70 characters one, 67 a part)"})
    provider_ref = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


@blp.route("/notices")
class Notices(MethodView):
    @requires("manager")
    @blp.arguments(NoticesIn)
    @blp.response(202, JobOut)
    def post(self, data):
        """Tell every farm with a pickup in the day's published plan what to have ready and when: by SMS
        when a gateway is configured (COOP_SMS), else as slips and a call list. A job; its result counts
        `notice`, `correction`, `cancellation`, `unchanged`, gives `by_status` of the farms' latest
        notices and lists `invalid_numbers` (reported, not sent). Run again after a re-plan: only farms
        whose notice changed hear again (a correction or a cancellation)."""
        from supply.jobs import get_job, submit_job

        ctx = services()
        job_id = submit_job(ctx, coop_id(), "notify_farms", {"cooperative_id": coop_id(),
                                                             "date": data["date"].isoformat(), "lang": data["lang"]})
        with ctx.db.transaction() as session:
            body = get_job(session, coop_id(), job_id)
        return body, 202, {"Location": url_for("jobs.JobById", job_id=job_id)}

    @requires("manager")
    @blp.arguments(NoticeQuery, location="query")
    @blp.response(200, NoticeOut(many=True))
    @paginated(blp)
    def get(self, query):
        """Every notice of a day with its delivery status."""
        from supply.services.notices import list_notices

        with services().db.transaction() as session:
            return list_notices(session, coop_id(), query["date"], farm_id=query["farm_id"], status=query["status"])


@blp.route("/notices/slips.pdf")
class NoticeSlips(MethodView):
    @requires("manager")
    @blp.arguments(DayQuery, location="query")
    @blp.doc(**_file_doc("a printable slip per farm (Chinese; three to an A4 page)", "pdf"))
    def get(self, query):
        from supply.services.notices import slips_pdf

        with services().db.transaction() as session:
            body = slips_pdf(session, coop_id(), query["date"], query["lang"])
        return _attachment(body, "pdf", f"notices-{query['date'].isoformat()}")


@blp.route("/notices/call-list.csv")
class NoticeCallList(MethodView):
    @requires("manager")
    @blp.arguments(DayQuery, location="query")
    @blp.doc(**_file_doc("the farms to call: number, whether it takes an SMS, what to tell them", "csv"))
    def get(self, query):
        from supply.services.notices import call_list_csv

        with services().db.transaction() as session:
            body = call_list_csv(session, coop_id(), query["date"], query["lang"])
        return _attachment(body, "csv", f"call-list-{query['date'].isoformat()}")

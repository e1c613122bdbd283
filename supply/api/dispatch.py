"""Hubs, vehicles, allocation, pickups, dispatch plans, routes and their sheets, stops, road closures."""
from __future__ import annotations

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from supply.api.auth import requires
from supply.api.context import services
from supply.api.jobs import JobOut
from supply.api.pages import paginated, window
from supply.api.schemas import Bool, Id, Int, Number, QueryId, Text
from supply.api.util import actor, coop_id
from supply.domain.allocation import POLICIES
from supply.jobs import get_job, submit_job
from supply.services.auth import create_driver
from supply.services.collection import close_road, collect_stop, report_position
from supply.services.fleet import (
    HubInput,
    list_hubs,
    list_vehicles,
    register_hub,
    register_vehicle,
)
from supply.services.pickups import confirm_pickup, count_pickups, list_pickups
from supply.services.planning import DEFAULT_TIME_LIMIT_S, check_plan_request
from supply.services.plans import get_plan, get_route_for, publish_plan, serialize_plan, serialize_route
from supply.services.quality import REJECT_REASONS

blp = Blueprint("dispatch", __name__, url_prefix="/api/v1", description="From pickups to routes")

PICKUP_STATUSES = ("proposed", "confirmed", "short", "collected", "cancelled")


class Window(Schema):
    @validates_schema
    def _order(self, data, **_):
        pairs = [("opens_at", "cutoff_at"), ("shift_start", "shift_end")]
        for start, end in pairs:
            if start in data and end in data and data[start] >= data[end]:
                raise ValidationError(f"must be after {start}", end)


class HubIn(Window):
    name = Text(required=True)
    lat = Number(required=True, validate=validate.Range(-90, 90))
    lon = Number(required=True, validate=validate.Range(-180, 180))
    opens_at = fields.Time(required=True, metadata={"description": "local time trucks may leave"})
    cutoff_at = fields.Time(required=True, metadata={"description": "the carriers' cut-off: all back by then"})


class HubOut(Schema):
    id = fields.Integer()
    name = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    opens_at = fields.Time()
    cutoff_at = fields.Time()
    node_id = fields.Integer(allow_none=True)
    snap_distance_m = fields.Float(allow_none=True)


class VehicleIn(Window):
    hub_id = Id(required=True)
    name = Text(required=True)
    plate = Text(40, load_default=None)
    capacity_kg = Number(required=True, validate=validate.Range(0, 60000, min_inclusive=False))
    capacity_l = Number(required=True, validate=validate.Range(0, 200000, min_inclusive=False))
    refrigerated = Bool(load_default=False)
    shift_start = fields.Time(required=True)
    shift_end = fields.Time(required=True)
    max_duration_s = Int(600, 86400, load_default=None, allow_none=True)
    cost_per_km = Number(load_default=0.0, validate=validate.Range(0, 1000))
    cost_per_use = Number(load_default=0.0, validate=validate.Range(0, 1_000_000))
    driver_id = Id(load_default=None, allow_none=True)


class VehicleOut(Schema):
    id = fields.Integer()
    hub_id = fields.Integer()
    name = fields.String()
    plate = fields.String(allow_none=True)
    capacity_kg = fields.Float()
    capacity_l = fields.Float()
    refrigerated = fields.Boolean()
    shift_start = fields.Time()
    shift_end = fields.Time()
    max_duration_s = fields.Integer(allow_none=True)
    cost_per_km = fields.Float()
    cost_per_use = fields.Float()
    driver_id = fields.Integer(allow_none=True)
    active = fields.Boolean()


class DriverIn(Schema):
    name = Text(required=True)
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9][0-9 \-]{4,30}$", error="not a phone number"),
                          load_default=None)


class DriverOut(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String(allow_none=True)


class AllocationIn(Schema):
    date = fields.Date(required=True, metadata={"description": "the pickup day"})
    policy = fields.String(load_default="fair_share", validate=validate.OneOf(POLICIES))


class PickupQuery(Schema):
    date = fields.Date(load_default=None)
    farm_id = QueryId(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(PICKUP_STATUSES))


class PickupOut(Schema):
    id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    sku = fields.String()
    product_name = fields.String()
    date = fields.Date()
    quantity = fields.Integer(metadata={"description": "asked of the farm"})
    quantity_ready = fields.Integer(allow_none=True, metadata={"description": "confirmed ready by the manager"})
    quantity_collected = fields.Integer()
    status = fields.String(metadata={"enum": list(PICKUP_STATUSES)})
    cold_chain = fields.Boolean()
    weight_kg = fields.Float()


class ConfirmIn(Schema):
    quantity_ready = Int(0, 10_000_000, required=True)


class ConfirmOut(Schema):
    pickup = fields.Nested(PickupOut)
    shortfall = fields.Integer()
    reallocated = fields.Dict(allow_none=True, metadata={"description": "what other farms took over"})
    backordered = fields.List(fields.Dict(), metadata={"description": "order lines no farm could supply"})
    orders_concerned = fields.List(fields.Integer())


class PlanIn(Schema):
    hub_id = Id(required=True)
    date = fields.Date(required=True)
    vehicle_ids = fields.List(Id(), load_default=None, validate=validate.Length(1, 500))
    time_limit_s = Number(load_default=None, validate=validate.Range(1, 600),
                          metadata={"description": f"wall-clock limit of the search (default "
                                                   f"{DEFAULT_TIME_LIMIT_S:g} s unless max_iterations is given)"})
    seed = Int(0, 2**31 - 1, load_default=0)
    max_iterations = Int(1, 1_000_000, load_default=None, allow_none=True,
                         metadata={"description": "bound the search by its own work: with no time limit, the same "
                                                  "day and seed give the same plan"})


class LegOut(Schema):
    road = fields.String()
    distance_m = fields.Integer()
    duration_s = fields.Integer()


class StopItemOut(Schema):
    pickup_id = fields.Integer()
    sku = fields.String()
    product_name = fields.String()
    unit = fields.String()
    quantity = fields.Integer()
    quantity_collected = fields.Integer(allow_none=True)
    weight_kg = fields.Float()
    cold_chain = fields.Boolean()


class StopOut(Schema):
    id = fields.Integer()
    sequence = fields.Integer()
    kind = fields.String(metadata={"description": "pickup, or reload (unload at the hub between trips)"})
    farm_id = fields.Integer(allow_none=True)
    farm_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    window_start = fields.Time(allow_none=True)
    window_end = fields.Time(allow_none=True)
    arrival_at = fields.DateTime()
    departure_at = fields.DateTime()
    load_after_kg = fields.Float()
    load_after_l = fields.Float()
    status = fields.String()
    legs = fields.List(fields.Nested(LegOut), metadata={"description": "roads from the previous stop"})
    items = fields.List(fields.Nested(StopItemOut))


class LastPositionOut(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)
    reported_at = fields.DateTime()


class RouteOut(Schema):
    id = fields.Integer()
    plan_id = fields.Integer()
    plan_version = fields.Integer()
    plan_status = fields.String()
    vehicle_id = fields.Integer()
    vehicle_name = fields.String()
    driver_id = fields.Integer(allow_none=True)
    departure_at = fields.DateTime()
    return_at = fields.DateTime()
    distance_m = fields.Integer()
    duration_s = fields.Integer()
    trips = fields.Integer()
    stops = fields.List(fields.Nested(StopOut))
    last_position = fields.Nested(LastPositionOut, allow_none=True, metadata={
        "description": "where the driver last reported the vehicle on the plan's day (POST .../position)"})


class UnplannedOut(Schema):
    pickup_id = fields.Integer()
    farm_id = fields.Integer()
    farm_name = fields.String()
    sku = fields.String()
    quantity = fields.Integer()
    reason = fields.String(metadata={"description": "capacity, time_window, unreachable or no_suitable_vehicle"})
    detail = fields.String()


class PlanOut(Schema):
    id = fields.Integer()
    hub_id = fields.Integer()
    date = fields.Date()
    version = fields.Integer()
    status = fields.String(metadata={"description": "draft, published or superseded"})
    needs_replan = fields.Boolean()
    replan_reason = fields.String(allow_none=True)
    engine = fields.String(allow_none=True)
    search = fields.Dict(metadata={"description": "how the plan was searched: engine_reason, seed, time_limit_s, "
                                                  "max_iterations, iterations, search_time_s, stopped_by, objective; "
                                                  "with PyVRP also searches, search_won, "
                                                  "search_objectives, vehicles_closed"})
    cost = fields.Float(allow_none=True)
    distance_m = fields.Integer()
    duration_s = fields.Integer()
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    routes = fields.List(fields.Nested(RouteOut))
    unplanned = fields.List(fields.Nested(UnplannedOut))


class CollectedLine(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    quantity = Int(0, 10_000_000, required=True)
    grade = Text(16, load_default=None, metadata={"description": "grade of the units taken (priced by grade)"})


class RejectLine(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    quantity = Int(1, 10_000_000, required=True, metadata={"description": "units refused at the farm gate"})
    reason = fields.String(required=True, validate=validate.OneOf(REJECT_REASONS))
    grade = Text(16, load_default=None)
    note = Text(500, load_default=None)


class CollectedIn(Schema):
    quantities = fields.List(fields.Nested(CollectedLine), required=True, validate=validate.Length(0, 100))
    rejects = fields.List(fields.Nested(RejectLine), load_default=list, validate=validate.Length(0, 100),
                          metadata={"description": "units refused at the farm gate, per product, with a reason: "
                                                   "a shortfall (re-allocated or backordered), never paid. Taken "
                                                   "plus rejected may not exceed what the stop was to collect."})


class CollectedOut(Schema):
    stop_id = fields.Integer()
    status = fields.String()
    collected = fields.Dict(keys=fields.String(), values=fields.Integer())
    rejected = fields.Dict(keys=fields.String(), values=fields.Integer())
    orders = fields.List(fields.Dict())


class PositionIn(Schema):
    lat = Number(required=True, validate=validate.Range(-90, 90), metadata={"description": "WGS-84 degrees"})
    lon = Number(required=True, validate=validate.Range(-180, 180), metadata={"description": "WGS-84 degrees"})
    accuracy_m = Number(load_default=None, validate=validate.Range(0, 100_000),
                        metadata={"description": "the phone's estimate of its error, metres"})
    reported_at = fields.AwareDateTime(load_default=None, metadata={
        "description": "when the vehicle was there (default: now); on the route's day, not in the future"})


class PositionOut(LastPositionOut):
    id = fields.Integer()
    route_id = fields.Integer()
    vehicle_id = fields.Integer()
    received_at = fields.DateTime()
    road_distance_m = fields.Float(allow_none=True, metadata={"description": "from the nearest road, metres"})
    replayed = fields.Boolean(metadata={"description": "the same report was received before"})


class ClosureIn(Schema):
    edge_id = Int(0, load_default=None)
    lat = Number(load_default=None, validate=validate.Range(-90, 90))
    lon = Number(load_default=None, validate=validate.Range(-180, 180))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(load_default=None)
    reason = Text(500, required=True)

    @validates_schema
    def _where(self, data, **_):
        has_point = data.get("lat") is not None and data.get("lon") is not None
        if data.get("edge_id") is None and not has_point:
            raise ValidationError("give edge_id, or lat and lon of a point on the road", "edge_id")
        if data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")


class ClosureOut(Schema):
    id = fields.Integer()
    edge_id = fields.Integer()
    road = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    reason = fields.String()
    edge_coords = fields.List(fields.List(fields.Float()))
    flagged_plans = fields.List(fields.Integer(), metadata={"description": "published plans to re-plan"})


def _job_accepted(kind: str, params: dict):
    ctx = services()
    job_id = submit_job(ctx, coop_id(), kind, {"cooperative_id": coop_id(), **params})
    with ctx.db.transaction() as session:
        body = get_job(session, coop_id(), job_id)
    return body, 202, {"Location": url_for("jobs.JobById", job_id=job_id)}


@blp.route("/hubs")
class Hubs(MethodView):
    @requires("manager")
    @blp.arguments(HubIn)
    @blp.response(201, HubOut)
    def post(self, data):
        ctx = services()
        with ctx.db.transaction() as session:
            return register_hub(session, coop_id(), HubInput(**data), ctx.snapper)

    @requires("manager")
    @blp.response(200, HubOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return list_hubs(session, coop_id())


@blp.route("/vehicles")
class Vehicles(MethodView):
    @requires("manager")
    @blp.arguments(VehicleIn)
    @blp.response(201, VehicleOut)
    def post(self, data):
        with services().db.transaction() as session:
            return register_vehicle(session, coop_id(), **data)

    @requires("manager")
    @blp.response(200, VehicleOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return list_vehicles(session, coop_id())


@blp.route("/drivers")
class Drivers(MethodView):
    @requires("manager")
    @blp.arguments(DriverIn)
    @blp.response(201, DriverOut)
    def post(self, data):
        with services().db.transaction() as session:
            return create_driver(session, coop_id(), **data)


@blp.route("/allocations")
class Allocations(MethodView):
    @requires("manager")
    @blp.arguments(AllocationIn)
    @blp.response(202, JobOut)
    def post(self, data):
        """Allocate reserved, unallocated order lines to farms for a date (a job)."""
        return _job_accepted("allocate", {"date": data["date"].isoformat(), "policy": data["policy"]})


@blp.route("/pickups")
class Pickups(MethodView):
    @requires("manager")
    @blp.arguments(PickupQuery, location="query")
    @blp.response(200, PickupOut(many=True))
    @paginated(blp, in_query=True)
    def get(self, query, pagination_parameters):
        with services().db.transaction() as session:
            found = count_pickups(session, coop_id(), on=query["date"], farm_id=query["farm_id"],
                                  status=query["status"])
            return list_pickups(session, coop_id(), on=query["date"], farm_id=query["farm_id"],
                                status=query["status"], **window(pagination_parameters, found))


@blp.route("/pickups/<int(max=9223372036854775807):pickup_id>/confirm")
class ConfirmPickup(MethodView):
    @requires("manager")
    @blp.arguments(ConfirmIn)
    @blp.response(200, ConfirmOut)
    def post(self, data, pickup_id):
        """The farm has `quantity_ready`; less than asked is a shortfall, re-allocated or backordered."""
        with services().db.transaction() as session:
            return confirm_pickup(session, coop_id(), pickup_id, data["quantity_ready"], actor=actor())


@blp.route("/dispatch-plans")
class DispatchPlans(MethodView):
    @requires("manager")
    @blp.arguments(PlanIn)
    @blp.response(202, JobOut)
    def post(self, data):
        """Plan routes for a hub's confirmed pickups on a date (a job; the plan is a new draft version)."""
        with services().db.transaction() as session:
            check_plan_request(session, coop_id(), data["hub_id"], data["vehicle_ids"])
        return _job_accepted("plan", {"hub_id": data["hub_id"], "date": data["date"].isoformat(),
                                      "vehicle_ids": data["vehicle_ids"], "time_limit_s": data["time_limit_s"],
                                      "seed": data["seed"], "max_iterations": data["max_iterations"]})


@blp.route("/dispatch-plans/<int:plan_id>")
class DispatchPlanById(MethodView):
    @requires("manager")
    @blp.response(200, PlanOut)
    def get(self, plan_id):
        with services().db.transaction() as session:
            return serialize_plan(session, get_plan(session, coop_id(), plan_id))


@blp.route("/dispatch-plans/<int:plan_id>/publish")
class PublishPlan(MethodView):
    @requires("manager")
    @blp.response(200, PlanOut)
    def post(self, plan_id):
        with services().db.transaction() as session:
            return serialize_plan(session, publish_plan(session, coop_id(), plan_id))


@blp.route("/routes/<int:route_id>")
class RouteById(MethodView):
    @requires("manager", "driver")
    @blp.response(200, RouteOut)
    def get(self, route_id):
        with services().db.transaction() as session:
            return serialize_route(session, get_route_for(session, g.principal, route_id))


def _sheet(route_id: int):
    from supply.services.sheets import build_route_sheet

    ctx = services()
    with ctx.db.transaction() as session:
        route = get_route_for(session, g.principal, route_id)
        return build_route_sheet(session, ctx.network, route, base_url=request.host_url.rstrip("/"))


@blp.route("/routes/<int:route_id>/sheet.html")
class RouteSheetHtml(MethodView):
    @requires("manager", "driver")
    @blp.doc(responses={"200": {"description": "the route sheet, one self-contained HTML page",
                                "content": {"text/html": {"schema": {"type": "string"}}}}})
    def get(self, route_id):
        from supply.sheets import render_html

        return Response(render_html(_sheet(route_id)), mimetype="text/html")


@blp.route("/routes/<int:route_id>/sheet.pdf")
class RouteSheetPdf(MethodView):
    @requires("manager", "driver")
    @blp.doc(responses={"200": {"description": "the route sheet as PDF (A4, CJK font embedded)",
                                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
    def get(self, route_id):
        from supply.sheets import render_pdf

        return Response(render_pdf(_sheet(route_id)), mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="route-{route_id}.pdf"'})


@blp.route("/stops/<int(max=9223372036854775807):stop_id>/collected")
class StopCollected(MethodView):
    @requires("driver", "manager")
    @blp.arguments(CollectedIn)
    @blp.response(200, CollectedOut)
    def post(self, data, stop_id):
        """Quantities collected per product, and units rejected at the farm gate with a reason (damaged,
        underweight, spoiled, wrong_product); less than planned is a shortfall."""
        quantities: dict[str, int] = {}
        grades: dict[str, str] = {}
        for line in data["quantities"]:
            quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
            if line.get("grade"):
                grades[line["sku"]] = line["grade"]
        rejects: dict[str, list[dict]] = {}
        for line in data["rejects"]:
            rejects.setdefault(line["sku"], []).append(line)
        with services().db.transaction() as session:
            return collect_stop(session, g.principal, stop_id, quantities, rejects, grades)


@blp.route("/routes/<int(max=2147483647):route_id>/position")
class RoutePosition(MethodView):
    @requires("driver", "manager")
    @blp.arguments(PositionIn)
    @blp.response(201, PositionOut)
    def post(self, data, route_id):
        """Where the route's vehicle is, from the driver's phone. A re-plan of the day starts the
        vehicle there when the report is newer than its last collected stop. The same report sent
        again (same time) is kept once and answered with the first."""
        ctx = services()
        with ctx.db.transaction() as session:
            report, replayed = report_position(session, ctx.network, g.principal, route_id, **data)
        return {**report, "replayed": replayed}


@blp.route("/road-closures")
class RoadClosures(MethodView):
    @requires("manager")
    @blp.arguments(ClosureIn)
    @blp.response(201, ClosureOut)
    def post(self, data):
        """Close an edge (or the edge nearest a point) from a time; published plans using it are flagged."""
        ctx = services()
        with ctx.db.transaction() as session:
            return close_road(session, ctx.network, coop_id(), **data)

"""The manager's console: the day at a glance, pickups to confirm, allocation and planning with the
job's progress, plan versions side by side and publishing, the plan on one map, drivers and their
sign-in links, farms, products and vehicles, road closures, exports. Forms are checked by the API's
own schemas; every action calls the same service as the API."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from supply.api.context import services
from supply.domain.errors import InvalidInput
from supply.services.web import day_at_a_glance, messages_waiting
from supply.web.forms import load_form
from supply.web.i18n import N_, _, timezone
from supply.web.pages import protect_forms, signed_in

bp = Blueprint("console", __name__, url_prefix="/m", template_folder="templates")
protect_forms(bp)

NAV = [("console.pickups", N_("Pickups")), ("console.plans", N_("Plans")), ("console.drivers", N_("Drivers")),
       ("console.farms", N_("Farms")), ("console.products", N_("Products")), ("console.vehicles", N_("Vehicles")),
       ("console.closures", N_("Road closures"))]


def console_nav():
    return [(endpoint, _(label)) for endpoint, label in NAV]


@bp.record_once
def _nav_global(state):
    state.app.jinja_env.globals["console_nav"] = console_nav


def _coop() -> int:
    return g.principal.cooperative_id


def _day() -> date:
    raw = request.values.get("date")
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput("not a date", fields={"date": ["YYYY-MM-DD"]}) from None
    return (datetime.now(timezone()) + timedelta(days=1)).date()


@bp.get("/")
@signed_in("manager")
def dashboard():
    with services().db.transaction() as db:
        figures = day_at_a_glance(db, _coop())
        waiting = messages_waiting(db, _coop())
    return render_template("console_dashboard.html", figures=figures, waiting=waiting)


@bp.post("/messages/<int:message_id>/order")
@signed_in("manager")
def complete_message(message_id: int):
    """Complete a platform message that carried no usable lines with one line (SKU, quantity)."""
    from supply.api.orders import LineIn
    from supply.domain.rules import OrderLineRequest
    from supply.services.platform_messages import complete_platform_message

    line = load_form(LineIn(), request.form)
    services().db.run(lambda db: complete_platform_message(
        db, _coop(), message_id, lines=(OrderLineRequest(line["sku"], line["quantity"]),),
        stream_id=None, buyer=None))
    flash(_("The order was recorded."), "ok")
    return redirect(url_for("console.dashboard"))


# --- pickups and allocation -----------------------------------------------------------------------


@bp.get("/pickups")
@signed_in("manager")
def pickups():
    from supply.services.pickups import list_pickups

    day = _day()
    with services().db.transaction() as db:
        rows = list_pickups(db, _coop(), on=day)
    farms: dict[int, dict] = {}
    for p in rows:
        farms.setdefault(p["farm_id"], {"name": p["farm_name"], "pickups": []})["pickups"].append(p)
    return render_template("console_pickups.html", day=day, farms=farms)


@bp.post("/pickups/<int:pickup_id>/confirm")
@signed_in("manager")
def confirm(pickup_id: int):
    from supply.api.dispatch import ConfirmIn
    from supply.services.pickups import confirm_pickup

    data = load_form(ConfirmIn(), request.form)
    with services().db.transaction() as db:
        outcome = confirm_pickup(db, _coop(), pickup_id, data["quantity_ready"], actor=g.principal.actor)
    if outcome["shortfall"]:
        moved = (outcome["reallocated"] or {}).get("allocated", 0)
        backordered = sum(b["quantity"] for b in outcome["backordered"])
        flash(_("Short by %(short)s: %(moved)s asked of other farms, %(back)s backordered (%(orders)s orders).")
              % {"short": outcome["shortfall"], "moved": moved, "back": backordered,
                 "orders": len(outcome.get("orders_concerned") or [])}, "warn")
    else:
        flash(_("Confirmed."), "ok")
    return redirect(url_for("console.pickups", date=outcome["pickup"]["date"].isoformat()))


def _job(kind: str, params: dict) -> str:
    from supply.jobs import submit_job

    return submit_job(services(), _coop(), kind, {"cooperative_id": _coop(), **params})


@bp.post("/allocations")
@signed_in("manager")
def allocate():
    from supply.api.dispatch import AllocationIn

    data = load_form(AllocationIn(), request.form)
    job_id = _job("allocate", {"date": data["date"].isoformat(), "policy": data["policy"]})
    return redirect(url_for("console.job", job_id=job_id))


@bp.get("/jobs/<job_id>")
@signed_in("manager")
def job(job_id: str):
    from supply.jobs import get_job

    with services().db.transaction() as db:
        data = get_job(db, _coop(), job_id)
    return render_template("console_job.html", job=data)


# --- plans ----------------------------------------------------------------------------------------


@bp.get("/plans")
@signed_in("manager")
def plans():
    from supply.services.fleet import list_hubs
    from supply.services.planning import DEFAULT_TIME_LIMIT_S
    from supply.services.web import list_plans

    day = _day() if request.args.get("date") else None
    with services().db.transaction() as db:
        rows = list_plans(db, _coop(), on=day)
        hubs = list_hubs(db, _coop())
    return render_template("console_plans.html", plans=rows, hubs=hubs, day=day or _day(),
                           default_time_limit_s=DEFAULT_TIME_LIMIT_S)


@bp.post("/plans")
@signed_in("manager")
def plan():
    from supply.api.dispatch import PlanIn
    from supply.services.fleet import get_hub

    data = load_form(PlanIn(), request.form)
    with services().db.transaction() as db:
        get_hub(db, _coop(), data["hub_id"])
    job_id = _job("plan", {"hub_id": data["hub_id"], "date": data["date"].isoformat(),
                           "vehicle_ids": data["vehicle_ids"], "time_limit_s": data["time_limit_s"]})
    return redirect(url_for("console.job", job_id=job_id))


@bp.get("/plans/<int:plan_id>")
@signed_in("manager")
def plan_detail(plan_id: int):
    from supply.services.plans import get_plan, serialize_plan
    from supply.services.web import plan_map
    from supply.web.driver import amap_url
    from supply.web.mapsvg import plan_svg

    ctx = services()
    with ctx.db.transaction() as db:
        data = serialize_plan(db, get_plan(db, _coop(), plan_id))
        scene = plan_map(db, ctx.network, _coop(), plan_id)
    for route in data["routes"]:
        if route["last_position"]:  # where the driver last reported the truck, on Amap
            where = route["last_position"]
            where["amap"] = amap_url(where["lat"], where["lon"], route["vehicle_name"])
    return render_template("console_plan.html", plan=data, map_svg=Markup(plan_svg(scene)), scene=scene)


@bp.post("/plans/<int:plan_id>/publish")
@signed_in("manager")
def publish(plan_id: int):
    from supply.services.plans import publish_plan

    with services().db.transaction() as db:
        published = publish_plan(db, _coop(), plan_id)
        day = published.date
    flash(_("Published: drivers see this version now."), "ok")
    return redirect(url_for("console.plans", date=day.isoformat()))


# --- drivers and their links ----------------------------------------------------------------------


@bp.get("/drivers")
@signed_in("manager")
def drivers():
    from supply.services.web import list_drivers, list_links

    with services().db.transaction() as db:
        rows = list_drivers(db, _coop())
        links = list_links(db, _coop())
    return render_template("console_drivers.html", drivers=rows, links=links)


@bp.post("/drivers")
@signed_in("manager")
def create_driver():
    from supply.api.dispatch import DriverIn
    from supply.services.auth import create_driver as create

    data = load_form(DriverIn(), request.form)
    with services().db.transaction() as db:
        create(db, _coop(), **data)
    flash(_("Saved."), "ok")
    return redirect(url_for("console.drivers"))


@bp.post("/drivers/<int:driver_id>/link")
@signed_in("manager")
def driver_link(driver_id: int):
    """A sign-in link for the driver, shown once with its QR code."""
    from supply.services.web import create_link
    from supply.sheets import qr

    with services().db.transaction() as db:
        link = create_link(db, _coop(), role="driver", driver_id=driver_id)
    url = url_for("pages.link", token=link["token"], _external=True)
    return render_template("console_link.html", link=link, url=url, qr=Markup(qr.svg(url)))


@bp.post("/links/<int:link_id>/revoke")
@signed_in("manager")
def revoke(link_id: int):
    from supply.services.web import revoke_link

    with services().db.transaction() as db:
        revoke_link(db, _coop(), link_id)
    flash(_("Revoked: the link signs no one in and its sessions ended."), "ok")
    return redirect(url_for("console.drivers"))


@bp.route("/drivers/<int:driver_id>", methods=["GET", "POST"])
@signed_in("manager")
def edit_driver(driver_id: int):
    from supply.api.dispatch import DriverIn
    from supply.services.web import list_drivers, update_driver

    if request.method == "POST":
        data = load_form(DriverIn(), request.form)
        with services().db.transaction() as db:
            update_driver(db, _coop(), driver_id, **data)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.drivers"))
    with services().db.transaction() as db:
        driver = next((d for d in list_drivers(db, _coop()) if d["id"] == driver_id), None)
    if driver is None:
        from supply.domain.errors import NotFound

        raise NotFound(f"driver {driver_id} does not exist")
    return render_template("console_edit_driver.html", driver=driver)


# --- farms, products, vehicles ---------------------------------------------------------------------


@bp.route("/farms", methods=["GET", "POST"])
@signed_in("manager")
def farms():
    from supply.api.farms import FarmIn
    from supply.services.catalog import FarmInput, list_farms, register_farm

    ctx = services()
    if request.method == "POST":
        data = load_form(FarmIn(), request.form)
        with ctx.db.transaction() as db:
            register_farm(db, _coop(), FarmInput(**data), ctx.snapper)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.farms"))
    with ctx.db.transaction() as db:
        rows = list_farms(db, _coop())
    return render_template("console_farms.html", farms=rows)


@bp.route("/farms/<int:farm_id>", methods=["GET", "POST"])
@signed_in("manager")
def edit_farm(farm_id: int):
    from supply.api.farms import FarmIn
    from supply.services.catalog import FarmInput, get_farm
    from supply.services.web import update_farm

    ctx = services()
    if request.method == "POST":
        data = load_form(FarmIn(), request.form)
        with ctx.db.transaction() as db:
            update_farm(db, _coop(), farm_id, FarmInput(**data), ctx.snapper)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.farms"))
    with ctx.db.transaction() as db:
        farm = get_farm(db, _coop(), farm_id)
    return render_template("console_edit_farm.html", farm=farm)


@bp.route("/products", methods=["GET", "POST"])
@signed_in("manager")
def products():
    from supply.api.products import ProductIn
    from supply.services.catalog import ProductInput, list_products, register_product

    if request.method == "POST":
        form = request.form.to_dict()
        form["cold_chain"] = "true" if request.form.get("cold_chain") else "false"
        data = load_form(ProductIn(), form)
        with services().db.transaction() as db:
            register_product(db, _coop(), ProductInput(**data))
        flash(_("Saved."), "ok")
        return redirect(url_for("console.products"))
    with services().db.transaction() as db:
        rows = list_products(db, _coop())
    return render_template("console_products.html", products=rows)


@bp.route("/products/<sku>", methods=["GET", "POST"])
@signed_in("manager")
def edit_product(sku: str):
    from supply.api.products import ProductIn
    from supply.services.catalog import list_products
    from supply.services.web import update_product

    if request.method == "POST":
        form = request.form.to_dict()
        form["sku"] = sku
        form["cold_chain"] = "true" if request.form.get("cold_chain") else "false"
        data = load_form(ProductIn(), form)
        data.pop("sku")
        with services().db.transaction() as db:
            update_product(db, _coop(), sku, **data)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.products"))
    with services().db.transaction() as db:
        product = next((p for p in list_products(db, _coop()) if p["sku"] == sku), None)
    if product is None:
        from supply.domain.errors import NotFound

        raise NotFound(f"no product with sku {sku!r}")
    return render_template("console_edit_product.html", product=product)


@bp.route("/vehicles/<int:vehicle_id>", methods=["GET", "POST"])
@signed_in("manager")
def edit_vehicle(vehicle_id: int):
    from supply.api.dispatch import VehicleIn
    from supply.services.fleet import list_hubs, list_vehicles
    from supply.services.web import list_drivers, update_vehicle

    if request.method == "POST":
        form = request.form.to_dict()
        form["refrigerated"] = "true" if request.form.get("refrigerated") else "false"
        data = load_form(VehicleIn(), form)
        with services().db.transaction() as db:
            update_vehicle(db, _coop(), vehicle_id, **data)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.vehicles"))
    with services().db.transaction() as db:
        vehicle = next((v for v in list_vehicles(db, _coop()) if v["id"] == vehicle_id), None)
        hubs, people = list_hubs(db, _coop()), list_drivers(db, _coop())
    if vehicle is None:
        from supply.domain.errors import NotFound

        raise NotFound(f"vehicle {vehicle_id} does not exist")
    return render_template("console_edit_vehicle.html", vehicle=vehicle, hubs=hubs, drivers=people)


@bp.route("/vehicles", methods=["GET", "POST"])
@signed_in("manager")
def vehicles():
    from supply.api.dispatch import VehicleIn
    from supply.services.fleet import list_hubs, list_vehicles, register_vehicle
    from supply.services.web import list_drivers

    if request.method == "POST":
        form = request.form.to_dict()
        form["refrigerated"] = "true" if request.form.get("refrigerated") else "false"
        data = load_form(VehicleIn(), form)
        with services().db.transaction() as db:
            register_vehicle(db, _coop(), **data)
        flash(_("Saved."), "ok")
        return redirect(url_for("console.vehicles"))
    with services().db.transaction() as db:
        rows, hubs, people = list_vehicles(db, _coop()), list_hubs(db, _coop()), list_drivers(db, _coop())
    return render_template("console_vehicles.html", vehicles=rows, hubs=hubs, drivers=people)


# --- road closures --------------------------------------------------------------------------------


@bp.route("/closures", methods=["GET", "POST"])
@signed_in("manager")
def closures():
    from supply.api.dispatch import ClosureIn
    from supply.services.collection import close_road
    from supply.services.web import list_closures

    ctx = services()
    if request.method == "POST":
        form = request.form.to_dict()
        for key in ("starts_at", "ends_at"):  # <input type=datetime-local> is local time without a zone
            if form.get(key):
                try:
                    local = datetime.fromisoformat(form[key])
                except ValueError:
                    raise InvalidInput("not a date and time", fields={key: ["YYYY-MM-DDTHH:MM"]}) from None
                form[key] = (local if local.tzinfo else local.replace(tzinfo=timezone())).isoformat()
        data = load_form(ClosureIn(), form)
        with ctx.db.transaction() as db:
            result = close_road(db, ctx.network, _coop(), **data)
        flash(_("Road closed: %(road)s. Published plans to re-plan: %(plans)s.")
              % {"road": result["road"] or "—", "plans": len(result["flagged_plans"])}, "ok")
        return redirect(url_for("console.closures"))
    from supply.services.web import county_map
    from supply.web.mapsvg import plan_svg

    with ctx.db.transaction() as db:
        rows = list_closures(db, _coop())
        scene = county_map(db, ctx.network, _coop())
    return render_template("console_closures.html", closures=rows,
                           map_svg=Markup(plan_svg(scene)) if scene else None)


from supply.web import exports  # noqa: E402,F401  (its routes are on this blueprint)

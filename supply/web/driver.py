"""The driver's phone: today's route, each stop with its ETA, window, farm, phone, what to collect and
how to get there, and marking it collected. Works offline (service worker + a queue of marks, each
with an idempotency key)."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import Blueprint, Response, g, redirect, render_template, request, send_from_directory, url_for

from supply.api.context import services
from supply.domain.errors import InvalidInput
from supply.domain.geo import wgs84_to_gcj02
from supply.services.web import driver_routes, mark_stop, route_for_page, stop_route_id
from supply.web.i18n import timezone
from supply.web.pages import protect_forms, signed_in

bp = Blueprint("driver", __name__, url_prefix="/d", template_folder="templates")
protect_forms(bp)
STATIC = __file__.rsplit("/", 1)[0] + "/static"


def amap_url(lat: float, lon: float, name: str) -> str:
    """Amap's marker page (opens the app when installed), with GCJ-02 coordinates as Amap expects."""
    gcj_lat, gcj_lon = wgs84_to_gcj02(lat, lon)
    return (f"https://uri.amap.com/marker?position={gcj_lon:.6f},{gcj_lat:.6f}&name={quote(name)}"
            "&coordinate=gaode&callnative=1")


def geo_uri(lat: float, lon: float, name: str) -> str:
    """RFC 5870 geo: URI (WGS-84), with the label Android map apps show."""
    return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({quote(name)})"


@bp.get("/")
@signed_in("driver")
def today():
    since = (datetime.now(timezone()) - timedelta(days=1)).date()
    with services().db.transaction() as db:
        routes = driver_routes(db, g.principal, since=since)
    if len(routes) == 1:
        return redirect(url_for("driver.route", route_id=routes[0]["id"]))
    return render_template("driver_today.html", routes=routes)


@bp.get("/routes/<int:route_id>")
@signed_in("driver", "manager")
def route(route_id: int):
    with services().db.transaction() as db:
        data = route_for_page(db, g.principal, route_id)
    for stop in data["stops"]:
        stop["amap"] = amap_url(stop["lat"], stop["lon"], stop["place_name"])
        stop["geo"] = geo_uri(stop["lat"], stop["lon"], stop["place_name"])
        stop["tel"] = "".join(ch for ch in (stop["phone"] or "") if ch.isdigit() or ch == "+")
        stop["key"] = secrets.token_urlsafe(16)  # the mark's idempotency key when sent without script
    response = Response(render_template("driver_route.html", route=data))
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/stops/<int:stop_id>")
@signed_in("driver", "manager")
def stop(stop_id: int):
    """A stop's QR code on the paper sheet: the route's page, at that stop."""
    with services().db.transaction() as db:
        route_id = stop_route_id(db, g.principal, stop_id)
    return redirect(url_for("driver.route", route_id=route_id, _anchor=f"stop-{stop_id}"))


def _rejects(raw) -> dict[str, list[dict]]:
    """{sku: {quantity, reason}} -> {sku: [line]}, each line checked by the API's RejectLine schema."""
    from marshmallow import ValidationError

    from supply.api.dispatch import RejectLine

    if not isinstance(raw, dict):
        raise InvalidInput("rejects must be an object of SKU to a quantity and a reason",
                           fields={"rejects": ["not an object"]})
    rejects, bad = {}, {}
    for sku, line in raw.items():
        if not isinstance(line, dict):
            bad[f"rejects.{sku}"] = ["a quantity and a reason"]
            continue
        try:
            rejects[str(sku)] = [RejectLine().load({"sku": str(sku), **line})]
        except ValidationError as exc:
            bad.update({f"rejects.{sku}.{k}": v for k, v in exc.messages.items()})
    if bad:
        raise InvalidInput("some rejects are not valid", fields=bad)
    return rejects


def _mark_input() -> tuple[str, dict[str, int], str | None, dict[str, list[dict]]]:
    if request.is_json:
        body = request.get_json(silent=True) or {}
        raw = body.get("quantities") or {}
        key, reason = body.get("idempotency_key") or "", body.get("reason")
        rejects = _rejects(body.get("rejects") or {})
    else:
        raw = {k[2:]: v for k, v in request.form.items() if k.startswith("q:")}
        key, reason = request.form.get("idempotency_key", ""), request.form.get("reason")
        rejects = {}
        for name, value in request.form.items():
            if name.startswith("r:") and value.strip() not in ("", "0"):
                try:
                    quantity = int(value)
                except ValueError:
                    quantity = value
                rejects[name[2:]] = {"quantity": quantity, "reason": request.form.get("rr:" + name[2:], "")}
        rejects = _rejects(rejects)
    if not isinstance(raw, dict):
        raise InvalidInput("quantities must be an object of SKU to quantity", fields={"quantities": ["not an object"]})
    quantities, bad = {}, {}
    for sku, value in raw.items():
        try:
            quantities[str(sku)] = int(value)
            if quantities[str(sku)] < 0:
                raise ValueError
        except (TypeError, ValueError):
            bad[f"quantities.{sku}"] = ["a whole number, 0 or more"]
    if bad:
        raise InvalidInput("quantities must be whole numbers", fields=bad)
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason must be text", fields={"reason": ["not text"]})
    return str(key), quantities, reason, rejects


@bp.post("/stops/<int:stop_id>/collect")
@signed_in("driver", "manager")
def collect(stop_id: int):
    key, quantities, reason, rejects = _mark_input()
    with services().db.transaction() as db:
        answer, replayed = mark_stop(db, g.principal, stop_id, key=key, quantities=quantities, reason=reason,
                                     rejects=rejects)
    if request.is_json:
        return {**answer, "replayed": replayed}
    with services().db.transaction() as db:
        route_id = stop_route_id(db, g.principal, stop_id)
    return redirect(url_for("driver.route", route_id=route_id, _anchor=f"stop-{stop_id}"))


@bp.post("/routes/<int(max=2147483647):route_id>/position")
@signed_in("driver", "manager")
def position(route_id: int):
    """The phone's position (JSON from the page's script: lat, lon, accuracy_m, reported_at), checked
    as the API checks it; a re-plan of the day starts the vehicle there."""
    from marshmallow import ValidationError

    from supply.api.dispatch import PositionIn
    from supply.api.errors import flatten_messages
    from supply.services.collection import report_position

    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInput("the position must be a JSON object", fields={"body": ["not an object"]})
    try:
        data = PositionIn().load(body)
    except ValidationError as exc:
        raise InvalidInput("the position is not valid", fields=flatten_messages(exc.messages)) from exc
    ctx = services()
    with ctx.db.transaction() as db:
        report, replayed = report_position(db, ctx.network, g.principal, route_id, **data)
    return {"reported_at": report["reported_at"].isoformat(), "road_distance_m": report["road_distance_m"],
            "replayed": replayed}


@bp.get("/sw.js")
def service_worker():
    """Served under /d/ so that it may control the driver's pages."""
    response = send_from_directory(STATIC, "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _route_sheet(route_id: int):
    from supply.services.plans import get_route_for
    from supply.services.sheets import build_route_sheet

    ctx = services()
    with ctx.db.transaction() as db:
        route = get_route_for(db, g.principal, route_id)
        return build_route_sheet(db, ctx.network, route, base_url=request.host_url.rstrip("/"))


@bp.get("/routes/<int:route_id>/sheet.html")
@signed_in("driver", "manager")
def sheet_html(route_id: int):
    """The paper route sheet, in the page's language (a signed-in person; the API has its own)."""
    from supply.sheets import render_html
    from supply.web.i18n import current_locale

    return Response(render_html(_route_sheet(route_id), locale=current_locale()), mimetype="text/html")


@bp.get("/routes/<int:route_id>/sheet.pdf")
@signed_in("driver", "manager")
def sheet_pdf(route_id: int):
    from supply.sheets import render_pdf
    from supply.web.i18n import current_locale

    return Response(render_pdf(_route_sheet(route_id), locale=current_locale()), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="route-{route_id}.pdf"'})

"""Signing in and out, the session behind every page, and how a refused request reads on a page."""
from __future__ import annotations

import functools

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from supply.api.context import services
from supply.db.models import Cooperative
from supply.domain.errors import DomainError, Forbidden, Unauthorized
from supply.services.auth import Principal
from supply.services.web import end_session, session_principal, sign_in_with_link, sign_in_with_token
from supply.web import csrf
from supply.web.i18n import N_, _

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")

HOME = {"manager": "console.dashboard", "host": "host.streams", "driver": "driver.today"}


def page_principal() -> Principal | None:
    """The signed-in person of this request, or None (cached on g)."""
    if "page_principal" not in g:
        sid = session.get("sid")
        principal = None
        if sid:
            try:
                with services().db.transaction() as db:
                    principal = session_principal(db, sid)
                    g.coop_timezone = db.get(Cooperative, principal.cooperative_id).timezone
            except Unauthorized:
                session.pop("sid", None)
        g.page_principal = principal
    return g.page_principal


def signed_in(*roles: str):
    """The view runs for a signed-in person of one of these roles: a visitor is sent to sign in, a
    person of another role is refused (403)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = page_principal()
            if principal is None:
                if request.method == "GET" and not request.is_json:
                    return redirect(url_for("pages.signin", next=request.full_path.rstrip("?")))
                raise Unauthorized("sign in first")
            if principal.role not in roles:
                raise Forbidden("this page is for another role")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator


def protect_forms(blueprint: Blueprint) -> None:
    """CSRF on every state-changing request of a blueprint of pages, and refusals as pages."""

    @blueprint.before_request
    def _csrf():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()

    blueprint.register_error_handler(DomainError, render_refusal)
    blueprint.after_request(_page_headers)


# Scripts only from this site (no inline script: a name that slipped past escaping could not run), styles
# inline too (the route sheet is one self-contained file), no framing, links carry no referrer away.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _page_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if "Cache-Control" not in response.headers and response.mimetype == "text/html":
        response.headers["Cache-Control"] = "private, no-cache"
    return response


ERROR_TEXT = {
    "unauthorized": N_("Please sign in again."),
    "forbidden": N_("This is not yours to see or change."),
    "not_found": N_("It does not exist (or no longer)."),
    "invalid_input": N_("Some of what was entered is not valid."),
    "conflict": N_("That cannot be done now: the figures changed meanwhile."),
    "insufficient_stock": N_("Not enough stock for that."),
    "already_collected": N_("This stop was already marked collected."),
    "plan_not_published": N_("This plan is not the published one."),
    "position_time_taken": N_("Another position was sent for this truck at the same moment."),
    "plan_superseded": N_("A newer version of this plan exists."),
    "pickup_not_open": N_("This pickup can no longer be confirmed."),
    "below_reserved": N_("That would leave less than is reserved."),
    "service_unavailable": N_("The database is unavailable; try again shortly."),
}


def refusal_text(exc: DomainError) -> str:
    text = ERROR_TEXT.get(exc.code) or next(
        (ERROR_TEXT[cls.code] for cls in type(exc).__mro__ if getattr(cls, "code", None) in ERROR_TEXT), "")
    return _(text) if text else _("The request was refused.")


FIELD_LABELS = {
    "name": N_("Name"), "phone": N_("Phone"), "lat": N_("Latitude"), "lon": N_("Longitude"),
    "window_start": N_("Window from"), "window_end": N_("Window to"), "sku": "SKU", "quantity": N_("Quantity"),
    "quantity_ready": N_("Ready at the farm"), "unit": N_("Unit"), "unit_weight_kg": N_("Weight per unit (kg)"),
    "unit_volume_l": N_("Volume per unit (L)"), "capacity_kg": N_("Capacity (kg)"), "capacity_l": N_("Capacity (L)"),
    "shift_start": N_("Shift from"), "shift_end": N_("Shift to"), "hub_id": N_("Hub"), "date": N_("Date"),
    "starts_at": N_("From"), "ends_at": N_("Until"), "reason": N_("Reason"), "driver_id": N_("Driver"),
    "time_limit_s": N_("Solver time (s)"), "reported_at": N_("Time of the position"),
    "accuracy_m": N_("Accuracy (m)"),
}
# marshmallow's and the services' usual reasons; any other is shown as it came
REASONS = {
    "Missing data for required field.": N_("required"), "Not a valid number.": N_("not a number"),
    "Not a valid integer.": N_("not a whole number"), "Not a valid time.": N_("not a time (HH:MM)"),
    "Not a valid date.": N_("not a date"), "Not a valid datetime.": N_("not a date and time"),
    "not a phone number": N_("not a phone number"), "unknown sku": N_("no product has this SKU"),
    "a whole number, 0 or more": N_("a whole number, 0 or more"),
}


def _fields_for_people(fields: dict) -> dict[str, list[str]]:
    shown = {}
    for name, reasons in fields.items():
        head, _dot, rest = name.partition(".")
        label = _(FIELD_LABELS[head]) + (f" {rest}" if rest else "") if head in FIELD_LABELS else name
        shown[label] = [_(REASONS[r]) if r in REASONS else r for r in reasons]
    return shown


def render_refusal(exc: DomainError):
    from supply.api.errors import status_for

    status = status_for(exc)
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return {"error": {"code": exc.code, "message": refusal_text(exc), "fields": exc.fields or {}}}, status
    if status == 401:
        return redirect(url_for("pages.signin", next=request.full_path.rstrip("?")))
    return render_template("refused.html", message=refusal_text(exc),
                           fields=_fields_for_people(exc.fields or {})), status


protect_forms(bp)


def _safe_next(target: str | None) -> str | None:
    # Only paths of this site: never an absolute URL (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _start(sid: str, principal: Principal, next_url: str | None = None):
    session.clear()
    session["sid"] = sid
    session.permanent = principal.role == "driver"
    return redirect(_safe_next(next_url) or url_for(HOME[principal.role]))


@bp.get("/")
def home():
    principal = page_principal()
    return redirect(url_for(HOME[principal.role]) if principal else url_for("pages.signin"))


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    error = None
    if request.method == "POST":
        token = request.form.get("token", "")
        try:
            with services().db.transaction() as db:
                sid, principal = sign_in_with_token(db, token)
            return _start(sid, principal, request.form.get("next"))
        except Unauthorized:
            error = _("This token is not valid.")
    return render_template("signin.html", error=error, next=_safe_next(request.args.get("next")) or ""), \
        401 if error else 200


@bp.get("/s/<token>")
def link(token: str):
    """A sign-in link (a driver's QR code, or a one-time link for a manager or host)."""
    try:
        with services().db.transaction() as db:
            sid, principal = sign_in_with_link(db, token)
    except Unauthorized:
        return render_template("refused.html", message=_("This link is not valid (expired, used or revoked)."),
                               fields={}), 401
    return _start(sid, principal, request.args.get("next"))


@bp.post("/signout")
def signout():
    sid = session.get("sid")
    if sid:
        with services().db.transaction() as db:
            end_session(db, sid)
    session.clear()
    return redirect(url_for("pages.signin"))
